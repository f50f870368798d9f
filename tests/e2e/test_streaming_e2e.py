"""The Streaming page in a real browser: the answer grows on screen while it is generated."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import open_app_page, rerun_of

pytestmark = pytest.mark.e2e

# Records the answer box's text length at every DOM change, in the page itself, so even a
# fast stream is sampled at each moment it changes rather than at a polling interval.
WATCH_ANSWER = """
() => {
  window.__lengths = [];
  const record = () => {
    const box = document.querySelector('.st-key-answer-0');
    if (box) window.__lengths.push([performance.now(), box.innerText.length]);
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def test_home_loads_and_links_to_streaming(page: Page, app_url: str) -> None:
    open_app_page(page, app_url)
    expect(page.get_by_role("heading", name="Execution Patterns Lab")).to_be_visible()
    # The model loads in the background: the sidebar says so, then says it is loaded, by itself.
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("SmolLM2-135M-Instruct", exact=False).first).to_be_visible()
    expect(sidebar.get_by_text("loaded in", exact=False)).to_be_visible(timeout=120_000)
    page.get_by_role("link", name="Streaming").first.click()
    expect(page.get_by_role("heading", name="Streaming", exact=True)).to_be_visible()


def test_streamed_answer_grows_over_several_moments(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "streaming")
    # A long answer on any sampling: a short one (the model may stop at "1, 2") cannot show growth.
    page.get_by_label("Prompt").fill("Write a short story about a robot who learns to paint.")
    with rerun_of(page):  # committed first: the click then reruns only the answer's fragment
        page.get_by_label("Prompt").press("Control+Enter")
    page.evaluate(WATCH_ANSWER)
    with rerun_of(page, timeout_ms=240_000):  # generous: other work may share the 2 cores
        page.get_by_role("button", name="Stream", exact=True).click()
        expect(page.locator(".st-key-answer-0")).not_to_have_text("", timeout=60_000)
    samples = page.evaluate("window.__lengths")
    final = len(page.locator(".st-key-answer-0").inner_text())
    growing = sorted({n for _, n in samples if 0 < n < final})
    assert len(growing) >= 3, f"text did not grow visibly while streaming: {samples[:40]}"
    first_seen = min(t for t, n in samples if n > 0)
    complete = min(t for t, n in samples if n == final)
    assert complete - first_seen > 50, "the whole answer appeared at once"
    expect(page.get_by_text("Time to first token", exact=True)).to_be_visible()
    expect(page.get_by_text("finish reason", exact=False).first).to_be_visible()
    # The click reran only the answer's fragment; the sidebar's session line counts the call
    # all the same (one full rerun follows the answer).
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("Session: 1 call ·", exact=False)).to_be_visible()
    # ... and draws the call's waterfall below the answer.
    expect(page.get_by_role("heading", name="Where the time went")).to_be_visible()
