"""In a real browser: against the 429 preset, the rate limiter makes the 429s disappear."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.apps import choose_network
from tests.e2e.conftest import ARTIFACTS, open_app_page, wait_for_idle

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)  # the limited run is as slow as the limit makes it: on 2 busy cores, minutes
def test_the_rate_limiter_removes_the_429s_of_the_429_preset(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "batch")
    choose_network(page, "Rate-limited: 4 at once")
    page.get_by_text("Generation settings").click()
    max_tokens = page.get_by_role("spinbutton", name="Max output tokens")
    max_tokens.fill("6")
    max_tokens.press("Enter")
    wait_for_idle(page)

    page.get_by_role("tab", name="Rate limits").click()
    # The sidebar's preset is the limit to run against (the default once one is set).
    expect(page.get_by_text("As set in the sidebar (4 at once)")).to_be_visible()
    page.get_by_role("spinbutton", name="Prompts (the first N)").fill("6")
    page.get_by_role("spinbutton", name="max_concurrency").last.fill("6")
    page.get_by_role("spinbutton", name="max_concurrency").last.press("Enter")
    wait_for_idle(page)
    page.get_by_role("button", name="Run without, then with").click()
    without = page.locator(".st-key-batch-rl-without")
    limited = page.locator(".st-key-batch-rl-with")
    expect(limited).to_be_visible(timeout=840_000)
    wait_for_idle(page)

    def refused(panel) -> int:
        metric = panel.locator("[data-testid=stMetric]", has_text="429 refused")
        return int(metric.locator("[data-testid=stMetricValue]").inner_text())

    assert refused(without) >= 1  # 6 at once against "4 at once": the proxy refused some
    assert refused(limited) == 0  # spaced by InMemoryRateLimiter: none refused
    expect(limited.get_by_text("0 of 6")).to_be_visible()  # and no prompt failed
    expect(page.locator(".st-key-batch-rl-chart, [data-testid=stPlotlyChart]").last).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("[data-testid=stPlotlyChart]").last.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "rate-limits.png"))
