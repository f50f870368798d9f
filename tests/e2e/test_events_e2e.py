"""The Streaming events page in a real browser: the log fills while the chain runs, then the
timeline is drawn."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_and_wait, open_app_page, rerun_of

pytestmark = pytest.mark.e2e

# Records the live log's "N events so far" at every DOM change, in the page itself, so every
# redraw is seen however briefly it stays on screen.
WATCH_LIVE_COUNT = """
() => {
  window.__liveCounts = [];
  const record = () => {
    const live = document.querySelector('[class*="st-key-events-live-"]');
    const match = live && live.innerText.match(/Live: (\\d+) events so far/);
    if (match) window.__liveCounts.push(Number(match[1]));
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def test_events_log_fills_while_running_and_the_timeline_is_drawn(page: Page, app_url: str) -> None:
    # Through Home and the sidebar, as a user would (and so the app's router is what serves it).
    open_app_page(page, app_url)
    click_and_wait(page, page.get_by_role("link", name="Streaming events").first)
    expect(page.get_by_role("heading", name="Streaming events", exact=True)).to_be_visible()
    page.get_by_text("Generation settings").click()
    max_tokens = page.get_by_role("spinbutton", name="Max output tokens")
    # 120 tokens: about a second of answer on the embedded model, so the log (redrawn every
    # 0.15 s) is seen growing several times. The watch, not a poll, sees each redraw: the live
    # log is replaced by the results as soon as the run ends.
    max_tokens.fill("120")
    with rerun_of(page):
        max_tokens.press("Enter")
    page.evaluate(WATCH_LIVE_COUNT)
    click_and_wait(page, page.get_by_role("button", name="Run and watch"), timeout_ms=180_000)

    live_counts = page.evaluate("window.__liveCounts")
    assert len(set(live_counts)) >= 2, f"the live log did not grow: {live_counts}"
    assert live_counts == sorted(live_counts)

    recorded = page.get_by_test_id("stMetric").filter(has_text="Events recorded")
    total = int(re.sub(r"\D", "", recorded.get_by_test_id("stMetricValue").inner_text()))
    assert total >= max(live_counts)
    expect(page.get_by_text(f"showing {total} of {total} recorded")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()

    timeline = page.locator(".st-key-events-timeline")
    timeline.scroll_into_view_if_needed()
    expect(timeline.locator(".js-plotly-plot")).to_be_visible()
    assert timeline.locator(".barlayer .point").count() >= 4  # chain, prompt, model, parser
    expect(timeline.get_by_text("ChatOpenAI", exact=False).first).to_be_visible()
