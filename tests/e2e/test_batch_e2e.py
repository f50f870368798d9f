"""The Batch page in a real browser: upload a sample file, run it, download the results."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import FloatRect, Locator, Page, expect

from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import click_and_wait, open_app_page, rerun_of, wait_for_idle

pytestmark = pytest.mark.e2e

SAMPLE = PROJECT_ROOT / "data" / "samples" / "questions.jsonl"


def test_upload_run_and_download_the_results(page: Page, app_url: str) -> None:
    open_app_page(page, app_url, "batch")
    # Short answers keep the run quick: Max output tokens in the sidebar.
    page.get_by_text("Generation settings").click()
    max_tokens = page.get_by_role("spinbutton", name="Max output tokens")
    max_tokens.fill("8")
    with rerun_of(page):
        max_tokens.press("Enter")

    click_and_wait(page, page.get_by_text("Upload a file", exact=True))
    with rerun_of(page):
        page.locator("[data-testid=stMain] [data-testid=stFileUploaderDropzoneInput]").set_input_files(SAMPLE)
        expect(page.get_by_text("6 prompts", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("from questions.jsonl · field question")).to_be_visible()

    click_and_wait(page, page.get_by_role("button", name="Run 6 prompts"))
    # While the polling fragment hands over to a full rerun, the old panel can linger for a
    # moment beside the new one: look at the last.
    job = page.locator(".st-key-batch-job").last
    expect(job).to_contain_text("running", timeout=30_000)
    # The page polls the job while it runs in the background, until it is done.
    expect(job).to_contain_text(re.compile(r"created \d\d:\d\d:\d\d · done"), timeout=240_000)
    wait_for_idle(page)
    expect(page.locator(".st-key-batch-job")).to_have_count(1)
    expect(job.get_by_text("6 / 6 rows finished")).to_be_visible()
    assert "job=" in page.url  # a reload finds the job again

    with page.expect_download() as download_info:
        job.get_by_role("button", name="CSV", exact=True).click()
    download = download_info.value
    assert download.suggested_filename.startswith("batch-") and download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert [r["input"] for r in rows][:3] == [
        "What is the capital of France?", "What is 2 + 2?", "Who wrote Romeo and Juliet?",
    ]
    assert {r["status"] for r in rows} == {"done"}
    assert all(r["output"] and int(r["output_tokens"]) > 0 for r in rows)
    assert {"latency_s", "input_tokens", "cost_usd", "cost_note", "finish_reason"} <= set(rows[0])


def test_the_run_button_is_on_the_first_screen_at_projector_size(page: Page, app_url: str) -> None:
    """At 1280×720 the page's one action is visible without scrolling (issue 17)."""
    open_app_page(page, app_url, "batch")
    run = page.get_by_role("button", name="Run 12 prompts")
    expect(run).to_be_visible(timeout=60_000)
    box = _settled_box(run)
    assert page.evaluate("window.scrollY") == 0
    assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"], box


def _settled_box(locator: Locator) -> FloatRect:
    """The element's box once the layout stops moving: the same on two frames in a row.

    Just after a page's first run, Streamlit's layout still moves for a frame or two (the
    button measured 60 px lower, then settled where every screenshot shows it).
    """
    previous: FloatRect | None = None
    for _ in range(50):
        box = locator.bounding_box()
        if box is not None and box == previous:
            return box
        previous = box
        locator.page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    raise AssertionError(f"the layout kept moving: last box {previous}")
