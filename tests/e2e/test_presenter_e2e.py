"""For presenters, in a real browser: the session report after calls on three pages, opened
offline; and a recording of the embedded model replayed on Streaming and as a Compare column.

The app runs with keys planted in its environment; the downloaded report is searched for them.
Screenshots at 1280×720 of the report and of Compare with a replay column go to test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.apps import choose_option, serve_app
from tests.e2e.conftest import ARTIFACTS, PROJECTOR, click_and_wait, open_app_page, wait_for_idle

pytestmark = pytest.mark.e2e

PLANTED = "sk-test-PLANTED-e2e-report-0123456789abcdef"
JOKE = "Tell me a joke about programmers."


@pytest.fixture(scope="module")
def presenter_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "OPENAI_API_KEY": PLANTED,
        "LAB_COMPAT_API_KEY": PLANTED,
        "LAB_MAX_TOKENS": "64",  # the Compare page's default, so a Streaming recording matches it
        "LAB_TEMPERATURE": "0",
    }
    with serve_app(env, tmp_path_factory.mktemp("presenter") / "streamlit.log") as url:
        yield url


def _go(page: Page, name: str, heading: str) -> None:
    """Move to another page through the sidebar's navigation: the same browser session (a
    `page.goto` would start a new one, with an empty ledger)."""
    page.locator("[data-testid=stSidebarNav]").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=60_000)
    wait_for_idle(page)


def _metric(page: Page, label: str) -> str:
    metric = page.locator("[data-testid=stMetric]", has_text=label).first
    return metric.locator("[data-testid=stMetricValue]").inner_text().strip()


def _seconds(shown: str) -> float:
    """'312 ms' or '1.23 s' (components.display.fmt_seconds) as seconds."""
    number, unit = shown.split()
    return float(number) / 1000 if unit == "ms" else float(number)


def _stream(page: Page, prompt: str) -> None:
    page.get_by_label("Prompt").fill(prompt)
    click_and_wait(page, page.get_by_role("button", name="Stream", exact=True), timeout_ms=240_000)
    # The run watched may be one that ended just as the click's began (a page's background
    # refresh): wait for the answer's finish line, then for the script to be idle.
    expect(page.get_by_text("finish reason", exact=False).first).to_be_visible(timeout=240_000)
    wait_for_idle(page, timeout_ms=240_000)
    expect(page.locator(".st-key-answer-0")).not_to_have_text("")


def _open_record_and_replay(page: Page) -> None:
    # Open while recording or replaying, closed otherwise (it closes after "Stop recording").
    # "Stop recording" reruns twice (its click, then st.rerun): let the second settle first.
    choice = page.locator(".st-key-replay-choice input[role=combobox]")
    summary = page.locator("[data-testid=stSidebar] summary", has_text="Record & replay")
    for _ in range(6):
        wait_for_idle(page)
        page.wait_for_timeout(500)
        if choice.is_visible():
            page.wait_for_timeout(700)  # still open once a late rerun has landed?
            if choice.is_visible():
                return
            continue
        summary.click()
    expect(choice).to_be_visible()


@pytest.mark.timeout(900)
def test_the_report_of_three_pages_opens_offline_with_their_figures_and_no_key(
    page: Page, browser: Browser, presenter_app: str, tmp_path: Path
) -> None:
    open_app_page(page, presenter_app, "streaming")
    _stream(page, "Name a colour.")
    ttft_shown = _metric(page, "Time to first token")

    _go(page, "Streaming events", "Streaming events")
    click_and_wait(page, page.get_by_role("button", name="Run and watch"), timeout_ms=240_000)
    events_shown = _metric(page, "Events recorded")

    _go(page, "Compare endpoints", "Compare endpoints")
    page.get_by_label("Prompt").fill("Say hi.")
    click_and_wait(page, page.get_by_role("button", name="Race"), timeout_ms=600_000)
    # As in _stream: the run watched may be a background refresh that ended as the race began,
    # so wait for the race's own result (both columns' "done" line) before reading it.
    expect(page.get_by_text(re.compile(r"done · [\d.]+ m?s")).nth(1)).to_be_visible(timeout=600_000)
    totals_shown = re.findall(r"done · ([\d.]+ m?s)", page.locator("[data-testid=stMain]").inner_text())
    assert len(totals_shown) >= 2, totals_shown

    with page.expect_download(timeout=120_000) as downloading:
        page.get_by_role("button", name="Download session report").click()
    report = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(report)
    assert report.name.startswith("lab-report-") and report.suffix == ".html"
    written = report.read_text(encoding="utf-8")
    assert PLANTED not in written  # nor any piece of it long enough to matter
    assert PLANTED[8:30] not in written

    offline = browser.new_context(viewport=PROJECTOR)
    offline.set_offline(True)
    asked: list[str] = []
    offline.on("request", lambda r: asked.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    try:
        opened = offline.new_page()
        opened.goto(report.as_uri())
        opened.wait_for_function("() => window.Plotly !== undefined")
        expect(opened.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        assert asked == []  # it opened with nothing fetched
        streaming = opened.locator("#pattern-streaming").inner_text()
        ttft = _seconds(ttft_shown)
        in_report = [float(x) for x in re.findall(r"(\d+\.\d{3}) s", streaming)]
        rounding = 0.0005 if ttft_shown.endswith(" ms") else 0.005
        assert any(abs(x - ttft) <= rounding for x in in_report), (ttft_shown, in_report[:10])
        events = opened.locator("#pattern-events").inner_text()
        assert re.search(rf"events received\s+{events_shown}\b", events), events[:400]
        timeline = opened.locator("#pattern-events figure.chart", has_text="Events timeline")
        expect(timeline.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        compare = opened.locator("#pattern-compare").inner_text()
        for total in totals_shown[:2]:
            assert total in compare, (total, compare[:600])
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=str(ARTIFACTS / "report-1280x720.png"))
        for pattern in ("streaming", "events", "compare"):
            opened.evaluate(f"document.querySelector('#pattern-{pattern}').scrollIntoView()")
            opened.screenshot(path=str(ARTIFACTS / f"report-{pattern}-1280x720.png"))
    finally:
        offline.close()


@pytest.mark.timeout(900)
def test_a_recording_replays_on_streaming_and_as_a_compare_column(page: Page, presenter_app: str) -> None:
    open_app_page(page, presenter_app, "streaming")
    _open_record_and_replay(page)
    click_and_wait(page, page.get_by_role("button", name="Record this endpoint's answers"))
    _stream(page, JOKE)
    recorded = page.locator(".st-key-answer-0").inner_text().strip()
    expect(page.locator("[data-testid=stSidebar]").get_by_text("1 answer saved", exact=False)).to_be_visible()
    click_and_wait(page, page.get_by_role("button", name="Stop recording"))

    _open_record_and_replay(page)
    choose_option(page, "st-key-replay-choice", "Replay: SmolLM2-135M-Instruct, recorded")
    _stream(page, JOKE)
    main = page.locator("[data-testid=stMain]")
    expect(main.get_by_text("REPLAY · Replay: SmolLM2", exact=False).first).to_be_visible()
    expect(page.locator("[data-testid=stSidebar]").get_by_text("REPLAY · Replay", exact=False).first).to_be_visible()
    assert page.locator(".st-key-answer-0").inner_text().strip() == recorded

    _go(page, "Compare endpoints", "Compare endpoints")
    choose_option(page, "st-key-compare-kind-1", "Replay: SmolLM2-135M-Instruct, recorded")
    click_and_wait(page, page.get_by_role("button", name="Race"), timeout_ms=600_000)
    expect(main.get_by_text("REPLAY · recorded answers")).to_be_visible()
    assert page.locator(".st-key-compare-final-col-1").inner_text().strip() == recorded
    expect(page.locator("[data-testid=stAlertContentError]")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".st-key-compare-final-col-1").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "compare-replay-1280x720.png"))
