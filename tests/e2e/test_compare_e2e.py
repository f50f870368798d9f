"""The Compare page in a real browser: both columns stream at once, not one after the other."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import open_app_page
from tests.e2e.server import click_and_wait, rerun_of

pytestmark = pytest.mark.e2e

# Watches the two live columns: records every text length each shows while *neither* column
# says "done" yet, and whether both ever held text at the same time in that stretch.
WATCH_COLUMNS = """
() => {
  window.__lengths = [new Set(), new Set()];
  window.__bothAtOnce = false;
  const text = (i) => document.querySelector(`.st-key-compare-live-col-${i}`)?.innerText.trim() ?? '';
  const done = () => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
    .some((c) => c.innerText.includes('done'));
  new MutationObserver(() => {
    if (done()) return;
    const a = text(0), b = text(1);
    if (a) window.__lengths[0].add(a.length);
    if (b) window.__lengths[1].add(b.length);
    if (a && b) window.__bothAtOnce = true;
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


# Two answers decoded at once on the 2 shared cores: give the run room beyond the suite's default.
@pytest.mark.timeout(900)
def test_both_columns_stream_at_once(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "compare")
    expect(page.get_by_role("heading", name="Compare endpoints", exact=True)).to_be_visible()
    race = page.get_by_role("button", name="Race")
    expect(race).to_be_enabled(timeout=120_000)  # a loaded machine renders the page slowly
    # A long answer, up to 256 tokens: the columns overlap for seconds, redrawn 4 times a second.
    # The default prompt (a joke) often ends by itself within ~30 tokens: column A could be done
    # before B, 300 ms behind it through the simulated network, had grown twice ([3, 1]).
    page.get_by_label("Prompt").fill("Write a long story about a dragon who learns to bake bread.")
    tokens = page.get_by_role("slider", name="Max tokens per answer")
    with rerun_of(page):
        tokens.focus()
        tokens.press("End")
    expect(tokens).to_have_attribute("aria-valuetext", "256")
    page.evaluate(WATCH_COLUMNS)
    click_and_wait(page, race, timeout_ms=800_000)
    expect(page.get_by_text("B's first token comes", exact=False)).to_be_visible(timeout=120_000)
    grown = page.evaluate("window.__lengths.map((s) => s.size)")
    assert page.evaluate("window.__bothAtOnce"), "the two columns never showed text at the same time"
    assert all(n >= 2 for n in grown), f"a column did not grow while both were running: {grown}"
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    expect(page.locator("[data-testid=stAlertContentError]")).to_have_count(0)
