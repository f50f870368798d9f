"""Security in a real browser: a planted key never shows up, and model output is never HTML.

The app runs against a tiny fake OpenAI-compatible endpoint whose reply contains a `<script>`
and an `<img onerror>`, and which quotes the key back in its 401 as OpenAI does. The key is
planted in the app's environment; the page (every state of it), the code snippet, the error
messages and the app's own terminal output are searched for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.apps import choose_network, serve_app
from tests.e2e.conftest import click_and_wait, open_app_page, rerun_of
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.e2e

PLANTED = "planted-e2e-Kq7v-not-shaped-like-a-key"


@pytest.fixture(scope="module")
def planted_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    fake = FakeOpenAI(PLANTED).start()
    log_path = tmp_path_factory.mktemp("planted") / "streamlit.log"
    env = {
        "LAB_PROVIDER": "compatible",
        "LAB_COMPAT_BASE_URL": fake.base_url,
        "LAB_COMPAT_MODEL": "fake-model",
        "LAB_COMPAT_API_KEY": PLANTED,
        "LAB_DISABLE_EMBEDDED": "1",  # this app never needs the local model
    }
    try:
        with serve_app(env, log_path) as url:
            yield url, log_path
    finally:
        fake.stop()


def _stream(page: Page) -> None:
    click_and_wait(page, page.get_by_role("button", name="Stream", exact=True))


def _set_model(page: Page, name: str) -> None:
    field = page.get_by_label("Model name", exact=True)
    field.fill(name)
    with rerun_of(page):
        field.press("Enter")


def _assert_no_key(page: Page) -> None:
    assert PLANTED not in page.content()


def test_model_output_is_text_never_html(page: Page, planted_app: tuple[str, Path]) -> None:
    url, _ = planted_app
    open_app_page(page, url, "streaming")
    _stream(page)
    answer = page.locator(".st-key-answer-0")
    expect(answer).to_contain_text('<script>window.__xss = "script ran"</script>')
    expect(answer).to_contain_text("<img src=")
    assert answer.locator("script, img").count() == 0
    # The comparison renders the invoke() answer with st.markdown: still text.
    click_and_wait(page, page.get_by_role("button", name="Stream vs. wait"))
    expect(page.get_by_text("invoke(): wait for all of it")).to_be_visible()
    assert page.locator("[data-testid=stMain] img[onerror], [data-testid=stMain] script").count() == 0
    assert page.evaluate("window.__xss") is None, "model output ran as code"
    _assert_no_key(page)


def test_planted_key_never_appears_in_page_code_errors_or_logs(
    page: Page, planted_app: tuple[str, Path],
) -> None:
    url, log_path = planted_app
    open_app_page(page, url, "streaming")
    _assert_no_key(page)
    page.get_by_text("Show the code").click()
    expect(page.get_by_text("LAB_COMPAT_API_KEY").first).to_be_visible()
    _assert_no_key(page)

    # The endpoint answers model "reject-key" with a 401 that quotes the key it was sent.
    _set_model(page, "reject-key")
    _stream(page)
    expect(page.get_by_text("Wrong or missing API key (HTTP 401)")).to_be_visible()
    expect(page.get_by_text("Incorrect API key provided: [redacted]")).to_be_visible()
    _assert_no_key(page)

    # Through the network proxy: the proxy sends the real key upstream and gets it quoted back.
    choose_network(page, "Remote API ~300 ms")
    _stream(page)
    expect(page.get_by_text("Incorrect API key provided: [redacted]")).to_be_visible()
    _assert_no_key(page)

    _set_model(page, "no-such-model")
    _stream(page)
    expect(page.get_by_text("Unknown model or wrong URL (HTTP 404)")).to_be_visible()
    _assert_no_key(page)

    # Back to a working model: the app is still usable after the faults.
    _set_model(page, "fake-model")
    _stream(page)
    expect(page.locator(".st-key-answer-0")).to_contain_text("done.")
    assert page.locator("[data-testid=stAlertContentError]").count() == 0
    _assert_no_key(page)

    log = log_path.read_text()
    assert "Uvicorn server started" in log or "You can now view" in log  # the log is the app's
    assert PLANTED not in log
