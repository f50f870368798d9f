"""The Structured output page in a real browser: the object grows on screen, field by field."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_and_wait, open_app_page

pytestmark = pytest.mark.e2e

# Records, in the page itself, every text the live object box shows while the answer streams:
# a DOM watch sees each redraw however briefly it stays on screen.
WATCH_LIVE_OBJECT = """
() => {
  window.__objectTexts = [];
  const record = () => {
    const live = document.querySelector('.st-key-structured-live');
    if (!live) return;
    const text = live.innerText;
    const seen = window.__objectTexts;
    if (!seen.length || seen[seen.length - 1] !== text) seen.push(text);
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""

FIELDS = ("name", "age", "hobbies")


def test_the_object_fills_in_field_by_field_and_its_figures_follow(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "structured")
    expect(page.get_by_role("heading", name="Structured output", exact=True)).to_be_visible()
    page.evaluate(WATCH_LIVE_OBJECT)
    click_and_wait(page, page.get_by_role("button", name="Stream the object"), timeout_ms=180_000)
    # The click's run streams, then reruns the page to draw the finished run: wait for that one.
    first = page.get_by_test_id("stMetric").filter(has_text="First field").get_by_test_id("stMetricValue")
    valid = page.get_by_test_id("stMetric").filter(has_text="Valid object").get_by_test_id("stMetricValue")
    expect(first).to_be_visible(timeout=180_000)

    texts: list[str] = page.evaluate("window.__objectTexts")
    shown = [tuple(f for f in FIELDS if f'"{f}"' in t or f"{f}:" in t or f"{f} :" in t) for t in texts]
    # The box showed a partial object with some of the fields before the whole one.
    partial = [fields for fields in shown if 0 < len(fields) < len(FIELDS)]
    assert partial, f"the object never showed part of itself: {texts[:6]}"
    assert shown[-1] == FIELDS
    # Fields appear in the schema's order, never vanish once shown.
    growing = [len(fields) for fields in shown if fields]
    assert growing == sorted(growing)

    # Figures from the trace, as durations (a first request after the app starts can take seconds).
    expect(first).to_have_text(re.compile(r"^[\d.]+ (ms|s)$"))
    expect(valid).to_have_text(re.compile(r"^[\d.]+ (ms|s)$"))
    wire = page.get_by_text('"response_format"', exact=False).first
    expect(wire).to_be_visible()
