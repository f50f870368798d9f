"""The Load test page in a real browser: a short sweep draws its knee, both charts and its table."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import open_app_page, rerun_of, wait_for_idle

pytestmark = pytest.mark.e2e


def test_a_short_sweep_draws_the_knee_and_the_time_axis(page: Page, app_url: str, tmp_path: Path) -> None:
    open_app_page(page, app_url, "load")
    expect(page.get_by_role("heading", name="Load test", exact=True)).to_be_visible()
    main = page.locator("[data-testid=stMain]")
    rates = main.get_by_role("textbox", name="Rates to sweep (requests a second)")
    rates.fill("2, 6")
    rates.press("Enter")
    wait_for_idle(page)
    requests = main.get_by_role("spinbutton", name="Requests per rate")
    requests.fill("3")
    requests.press("Enter")
    wait_for_idle(page)
    slider = main.get_by_role("slider").first
    slider.focus()
    slider.press("Home")  # the shortest answers: 8 tokens
    wait_for_idle(page)
    with rerun_of(page, timeout_ms=150_000):
        page.get_by_role("button", name="Run sweep").click()
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    expect(main.get_by_role("heading", level=3)).to_contain_text("req/s")  # the knee, in words
    expect(page.locator("[data-testid=stPlotlyChart]")).to_have_count(2)
    expect(page.locator("[data-testid=stPlotlyChart] .main-svg").first).to_be_visible()
    expect(main.get_by_role("button", name="Levels (CSV)")).to_be_visible()
    page.screenshot(path=str(tmp_path / "load-page.png"), full_page=True)  # kept for a look by hand


def test_stop_ends_the_sweep_at_once_and_keeps_what_ran(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "load")
    main = page.locator("[data-testid=stMain]")
    rates = main.get_by_role("textbox", name="Rates to sweep (requests a second)")
    rates.fill("2, 4")
    rates.press("Enter")
    wait_for_idle(page)
    requests = main.get_by_role("spinbutton", name="Requests per rate")
    requests.fill("200")  # 100 s of arrivals at 2 req/s: only Stop ends it within the test
    requests.press("Enter")
    wait_for_idle(page)
    page.get_by_role("button", name="Run sweep").click()
    expect(main.get_by_text("level 1 of 2", exact=False)).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1500)  # a few arrivals, some calls in flight
    page.get_by_role("button", name="Stop").click()
    expect(main.get_by_text("Stopped: arrivals ended at once", exact=False)).to_be_visible(timeout=30_000)
    wait_for_idle(page)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    expect(page.locator("[data-testid=stPlotlyChart]")).to_have_count(2)  # what ran is drawn
