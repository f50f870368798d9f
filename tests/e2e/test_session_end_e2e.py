"""A closed tab stops its foreground work: Measure's runs stop once Streamlit drops the session.

The app runs with `server.disconnectedSessionTTL` = 2 s (Streamlit's window for a tab to
reconnect; 120 s by default) against the fake endpoint through the simulated remote API (300 ms
a call), and the fake counts the requests it receives: they keep coming while the tab is open,
and stop within the window (plus the lab's watch interval) after the tab closes, long before
the 200 runs would have ended.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.apps import choose_network
from tests.e2e.conftest import PROJECTOR, click_and_wait, open_app_page, rerun_of
from tests.e2e.server import running_app
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.e2e

KEY = "fake-key-session-end"
TTL_S = 2


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    served = FakeOpenAI(KEY, reply="Blue.").start()
    yield served
    served.stop()


def _calls(fake: FakeOpenAI) -> int:
    return len(fake.received_keys)


def test_measure_stops_calling_once_its_closed_tab_has_ended(browser: Browser, fake: FakeOpenAI) -> None:
    env = {"LAB_PROVIDER": "compatible", "LAB_COMPAT_BASE_URL": fake.base_url, "LAB_COMPAT_MODEL": "fake-model",
           "LAB_COMPAT_API_KEY": KEY, "LAB_DISABLE_EMBEDDED": "1"}
    with running_app(env, extra_args=("--server.disconnectedSessionTTL", str(TTL_S))) as app:
        context = browser.new_context(viewport=PROJECTOR)
        page = context.new_page()
        open_app_page(page, app.url, "streaming")
        choose_network(page, "Remote API ~300 ms")
        runs = page.get_by_role("spinbutton", name="N (measured runs)")
        runs.fill("200")
        with rerun_of(page):
            runs.press("Enter")
        click_and_wait(page, page.get_by_role("button", name="Measure 200 runs"))
        expect(page.get_by_text("of 200…")).to_be_visible(timeout=60_000)  # the progress line
        deadline = time.monotonic() + 60
        while _calls(fake) < 4:  # the warm-up and a few runs went out
            assert time.monotonic() < deadline, "Measure never started calling"
            time.sleep(0.1)
        open_count = _calls(fake)
        time.sleep(1.5)
        assert _calls(fake) > open_count  # calls go on while the tab is open

        context.close()
        closed_at, at_close = time.monotonic(), _calls(fake)
        # Streamlit keeps the session TTL_S for a reconnect; the lab looks every second after.
        time.sleep(TTL_S + 3)
        settled = _calls(fake)
        time.sleep(2)
        assert _calls(fake) == settled, "Measure kept calling after its session ended"
        # It did not stop at once: a tab may come back within the window.
        assert settled > at_close, f"stopped within {time.monotonic() - closed_at:.1f} s, before the window"
        assert settled < 60, settled  # 200 runs at 300 ms each would have gone on for a minute
