"""Metadata & cost in a real browser: calls on two pages add up in the session's totals."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import click_and_wait, open_app_page, rerun_of

pytestmark = pytest.mark.e2e

CALL_TIMEOUT_MS = 120_000  # generous: CI machines are shared and slow


def metric_value(scope: Page | Locator, label: str) -> str:
    page = scope if isinstance(scope, Page) else scope.page
    # `has=` is matched inside each metric, so the label locator starts from the page.
    label_el = page.locator("[data-testid=stMetricLabel]", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    metric = scope.locator("[data-testid=stMetric]").filter(has=label_el)
    return metric.locator("[data-testid=stMetricValue]").inner_text().strip()


def test_calls_on_two_pages_add_up_on_the_cost_page(page: Page, app_url: str) -> None:
    # Open the app at its root, then move between pages with the sidebar links: one session.
    open_app_page(page, app_url)
    page.get_by_text("Generation settings").click()
    page.locator("[data-testid=stSidebar]").get_by_role("spinbutton", name="Max output tokens").fill("8")
    with rerun_of(page):
        page.keyboard.press("Enter")

    click_and_wait(page, page.get_by_role("link", name="Streaming").first)
    page.get_by_label("Prompt").fill("Name a colour.")
    with rerun_of(page, timeout_ms=CALL_TIMEOUT_MS):
        page.get_by_role("button", name="Stream", exact=True).click()
        expect(page.get_by_text("finish reason", exact=False).first).to_be_visible(timeout=CALL_TIMEOUT_MS)
    streamed_in, streamed_out = (int(n) for n in metric_value(page, "Tokens in / out").split(" / "))

    click_and_wait(page, page.get_by_role("link", name="Metadata & cost").first)
    totals = page.locator(".st-key-metadata-totals")
    expect(totals).to_be_visible()
    assert metric_value(totals, "Calls") == "1"

    page.locator("[data-testid=stMain]").get_by_role("spinbutton", name="Max output tokens").fill("8")
    with rerun_of(page):
        page.keyboard.press("Enter")
    receipt = page.locator(".st-key-metadata-receipt")
    with rerun_of(page, timeout_ms=CALL_TIMEOUT_MS):
        page.get_by_role("button", name="Get the receipt").click()
        expect(receipt).to_be_visible(timeout=CALL_TIMEOUT_MS)
    text = receipt.inner_text()
    receipt_in = int(re.search(r"input tokens\s+([\d,]+)", text).group(1).replace(",", ""))
    receipt_out = int(re.search(r"output tokens\s+([\d,]+)", text).group(1).replace(",", ""))

    assert metric_value(totals, "Calls") == "2"
    assert metric_value(totals, "Usage reported") == "2 of 2"
    assert int(metric_value(totals, "Input tokens").replace(",", "")) == streamed_in + receipt_in
    assert int(metric_value(totals, "Output tokens").replace(",", "")) == streamed_out + receipt_out
    assert metric_value(totals, "Session cost") == "$0.00"
    total = streamed_in + streamed_out + receipt_in + receipt_out
    expect(page.locator("[data-testid=stSidebar]")).to_contain_text(f"Session: 2 calls · {total:,} tokens")

    # The ledger's CSV export holds both pages' calls, priced, and nothing secret.
    page.get_by_role("tab", name="Session ledger").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download ledger (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["pattern"] for r in rows] == ["streaming", "metadata"]
    assert [int(r["input_tokens"]) for r in rows] == [streamed_in, receipt_in]
    assert all(r["usage"] == "reported" and float(r["cost_usd"]) == 0.0 for r in rows)
    assert set(rows[0]) >= {"model", "cost", "latency_s", "prices_as_of"}
    assert not any("key" in column for column in rows[0])
