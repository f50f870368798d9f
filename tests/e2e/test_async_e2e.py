"""The Async page in a real browser: "Run all" twice in a row, each time a fresh event loop."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import open_app_page, rerun_of, wait_for_idle

pytestmark = pytest.mark.e2e

# Notes every moment the live astream boxes exist, so a second run is seen to really run
# (not just redraw the first one's stored results).
WATCH_LIVE = """
() => {
  window.__liveSeen = 0;
  new MutationObserver(() => {
    if (document.querySelector('.st-key-async-live-stream-0')) window.__liveSeen += 1;
  }).observe(document.body, {subtree: true, childList: true});
}
"""


def test_run_all_twice_draws_the_timeline_both_times(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "async")
    expect(page.get_by_role("heading", name="Async", exact=True)).to_be_visible()
    page.get_by_label("Questions, one per line", exact=False).fill("What is AI?\nWhat is ML?\nWhat is DL?")
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("Home")  # the shortest answers: 16 tokens
    wait_for_idle(page)
    for attempt in (1, 2):
        page.evaluate(WATCH_LIVE)
        with rerun_of(page, timeout_ms=150_000):
            page.get_by_role("button", name="Run all").click()
            # The live astream boxes exist only while the astream mode runs (the last of the four):
            # wait on the watcher, which sees every moment they exist, not on the element, which a
            # short mode can add and remove between two polls (a fresh-clone run waited out 150 s).
            page.wait_for_function("window.__liveSeen > 0", timeout=150_000)
        assert page.evaluate("window.__liveSeen") > 0, f"run {attempt}: the astream boxes never appeared"
        expect(page.locator("[data-testid=stPlotlyChart]")).to_have_count(1)
        expect(page.locator("[data-testid=stPlotlyChart] .main-svg").first).to_be_visible()
        for mode in ("sequential", "gather", "abatch", "astream"):
            expect(page.locator(f".st-key-async-summary-{mode}")).to_contain_text("wall")
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
        # A failed call (an "Event loop is closed" one included) would be an error box here.
        expect(page.locator("[data-testid=stAlertContentError]")).to_have_count(0)
