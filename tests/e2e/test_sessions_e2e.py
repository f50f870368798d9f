"""Many browser sessions on one app: isolated from each other, and all served under load."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.apps import choose_network
from tests.e2e.conftest import PROJECTOR, click_and_wait, open_app_page, rerun_of, track_runs

pytestmark = pytest.mark.e2e

SESSION_KEY = "typed-in-session-a-Wm3p"


def _type_max_tokens(page: Page, value: int) -> Locator:
    """Type the sidebar's max tokens; the returned field sends it (a rerun) on Enter."""
    page.get_by_text("Generation settings").click()
    field = page.get_by_role("spinbutton", name="Max output tokens")
    field.fill(str(value))
    return field


def _expect_code_uses_max_tokens(page: Page, value: int) -> None:
    expect(page.locator("[data-testid=stCode]").filter(has_text=f"max_tokens={value},").first).to_be_attached()


def _set_max_tokens(page: Page, value: int) -> None:
    """Set the sidebar's max tokens; the page's code snippet then uses the new value."""
    field = _type_max_tokens(page, value)
    with rerun_of(page):
        field.press("Enter")
    _expect_code_uses_max_tokens(page, value)


def _choose_openai(page: Page) -> None:
    """Pick "OpenAI" in the sidebar; its key field is then drawn."""
    click_and_wait(page, page.get_by_text("OpenAI", exact=True))
    expect(page.get_by_label("API key", exact=True)).to_be_visible()


def _stream(page: Page, prompt: str) -> None:
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_role("button", name="Stream", exact=True).click()


def test_two_sessions_never_see_each_others_settings_keys_or_results(
    browser: Browser, app_url: str,
) -> None:
    a_context, b_context = browser.new_context(viewport=PROJECTOR), browser.new_context(viewport=PROJECTOR)
    try:
        a, b = a_context.new_page(), b_context.new_page()
        open_app_page(a, app_url, "streaming")
        _set_max_tokens(a, 12)
        choose_network(a, "Remote API ~300 ms")
        with rerun_of(a):
            _stream(a, "Name two colours.")
            expect(a.locator(".st-key-answer-0")).not_to_be_empty(timeout=60_000)
        expect(a.get_by_text("So far: 1 requests", exact=False)).to_be_visible()
        _choose_openai(a)
        a.get_by_label("API key", exact=True).fill(SESSION_KEY)
        with rerun_of(a):
            a.get_by_label("API key", exact=True).press("Enter")

        open_app_page(b, app_url, "streaming")
        # B starts from the defaults: none of A's settings, key, conditions or answer.
        assert b.locator(".st-key-answer-0").count() == 0
        assert b.locator(".st-key-sidebar-network input").input_value() == "Off"
        expect(b.get_by_label("Local (embedded SmolLM2)")).to_be_checked()
        b.get_by_text("Generation settings").click()
        assert b.get_by_role("spinbutton", name="Max output tokens").input_value() != "12"
        assert SESSION_KEY not in b.content()
        click_and_wait(b, b.get_by_text("OpenAI", exact=True))
        expect(b.get_by_text("OpenAI needs an API key", exact=False)).to_be_visible()
        assert b.get_by_label("API key", exact=True).input_value() == ""
        # The proxy keeps counts and limits per session: B's count starts at zero.
        choose_network(b, "Remote API ~300 ms")
        expect(b.get_by_text("Via the lab's proxy", exact=False)).to_be_visible()
        assert b.get_by_text("So far:", exact=False).count() == 0

        # A still has everything it set.
        assert a.locator(".st-key-sidebar-network input").input_value() == "Remote API ~300 ms"
        assert a.get_by_label("API key", exact=True).input_value() == SESSION_KEY
        expect(a.get_by_text("So far: 1 requests", exact=False)).to_be_visible()
    finally:
        a_context.close()
        b_context.close()


@pytest.mark.timeout(420)
def test_eight_sessions_streaming_at_once_all_finish(browser: Browser, app_url: str) -> None:
    contexts = [browser.new_context(viewport=PROJECTOR) for _ in range(8)]
    try:
        # Eight people open the page at once, as a room of laptops would; each step is sent to all
        # eight before any is awaited (leaving each `with` waits for every page's run to finish).
        pages = [track_runs(context.new_page()) for context in contexts]
        with ExitStack() as runs:
            for page in pages:
                runs.enter_context(rerun_of(page, timeout_ms=180_000))
                page.goto(f"{app_url}/streaming", wait_until="commit")
        with ExitStack() as runs:  # short answers: the sidebar's max tokens, in each session
            for page in pages:
                field = _type_max_tokens(page, 16)
                runs.enter_context(rerun_of(page, timeout_ms=180_000))
                field.press("Enter")
        for page in pages:
            _expect_code_uses_max_tokens(page, 16)
            page.get_by_label("Prompt").fill("Name three animals.")
        with ExitStack() as runs:
            for page in pages:
                runs.enter_context(rerun_of(page, timeout_ms=180_000))
                page.get_by_role("button", name="Stream", exact=True).click()
            for page in pages:
                expect(page.locator(".st-key-answer-0")).not_to_be_empty(timeout=180_000)
        for page in pages:
            assert page.locator("[data-testid=stAlertContentError], [data-testid=stException]").count() == 0
            expect(page.get_by_text("finish reason", exact=False).first).to_be_visible()
    finally:
        for context in contexts:
            context.close()
