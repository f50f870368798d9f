"""The Chat page in a real browser: three turns streamed, the chart drawn, the figures adding up."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, open_app_page, rerun_of
from tests.e2e.test_a11y_e2e import assert_accessible

pytestmark = pytest.mark.e2e

# Records the streaming answer's text length at every DOM change, in the page itself.
WATCH_LIVE_ANSWER = """
() => {
  window.__lengths = [];
  const record = () => {
    const box = document.querySelector('.st-key-chat-live');
    if (box) window.__lengths.push([performance.now(), box.innerText.length]);
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""
TURNS = ("My name is Ada. Write two sentences about the sea.", "Write a short poem about a cat.",
         "What is my name?")
FIGURE_LINE = re.compile(r"Turn (\d+) · in ([\d,]+) \(([\d,]+) cached · ([\d,]+) new\)")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def test_three_turns_stream_and_their_figures_add_up(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "chat")
    expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()
    box = page.get_by_test_id("stChatInputTextArea")
    growth: list[list[int]] = []
    for number, text in enumerate(TURNS, start=1):
        box.fill(text)
        page.evaluate(WATCH_LIVE_ANSWER)
        with rerun_of(page, timeout_ms=240_000):
            box.press("Enter")
        expect(page.locator(f".st-key-chat-turn-{number}")).to_be_visible(timeout=120_000)
        growth.append(sorted({n for _, n in page.evaluate("window.__lengths") if n > 0}))
    # Streamed: some answer was on screen at several lengths before it was whole.
    assert max(len(g) for g in growth) >= 3, f"no answer grew while streaming: {growth}"

    lines = [page.locator(f".st-key-chat-turn-{n}").get_by_text(re.compile(r"^Turn \d+ · ")).inner_text()
             for n in range(1, 4)]
    parsed = [FIGURE_LINE.search(line) for line in lines]
    assert all(parsed), lines
    totals = [_int(m.group(2)) for m in parsed if m]
    for m in parsed:
        assert m is not None and _int(m.group(3)) + _int(m.group(4)) == _int(m.group(2))  # cached + new = in
    assert totals == sorted(totals) and totals[0] < totals[2]  # the history grows
    assert all(_int(m.group(3)) > 0 for m in parsed[1:] if m)  # turns 2 and 3 reuse the prefix
    summary = page.get_by_text(re.compile(r"3 turns · [\d,]+ input tokens sent in all")).inner_text()
    assert f"{sum(totals):,} input tokens sent in all" in summary

    expect(page.locator(".st-key-chat-chart [data-testid=stPlotlyChart]")).to_be_visible()
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("Session: 3 calls ·", exact=False)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-three-turns-1280x720.png"))
    assert_accessible(page)
