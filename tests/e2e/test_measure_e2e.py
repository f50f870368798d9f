"""The Streaming page's Measure section in a real browser: N runs, p50/p90 and the definitions."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import open_app_page, wait_for_idle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]  # 11 real calls on 2 shared cores


def test_measured_runs_show_percentiles_and_definitions(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "streaming")
    page.get_by_text("Generation settings").click()
    max_tokens = page.get_by_role("spinbutton", name="Max output tokens")
    max_tokens.fill("4")
    max_tokens.press("Enter")
    wait_for_idle(page)
    page.get_by_label("Prompt").fill("Name a colour.")
    runs = page.get_by_role("spinbutton", name="N (measured runs)")
    runs.fill("10")
    runs.press("Enter")
    wait_for_idle(page)
    page.get_by_role("button", name="Measure 10 runs").click()
    # The runs go on in the background; the section polls them and draws the results when done.
    results = page.locator(".st-key-measure-results")
    expect(results).to_contain_text("10 of 10 runs measured", timeout=1_200_000)
    wait_for_idle(page)
    stats = page.locator(".st-key-measure-stats")
    for header in ("mean", "p50", "p90", "p99"):
        expect(stats.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    ttft = stats.get_by_role("row").filter(has_text="TTFT")
    expect(ttft).to_contain_text("ms")
    expect(ttft).to_contain_text("needs ≥ 100 runs")  # p99 from 10 runs is not printed
    definitions = page.locator(".st-key-measure-definitions")
    expect(definitions).to_contain_text("vLLM bench serve")
    expect(definitions).to_contain_text("(e2e − TTFT) / (output tokens − 1)")
