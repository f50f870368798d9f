"""The session report: built from real calls to the embedded model, opened offline in chromium."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pytest

from core.call.trace import CallTrace, Outcome
from core.call.usage import Usage
from core.export.report import (
    EMPTY_SESSION_MESSAGE,
    PRINT_WIDTH_PX,
    EmptySession,
    EndpointLine,
    ReportInputs,
    build_report,
    scrub,
)
from core.money.costs import cost_calls, session_totals
from core.money.ledger import CallRecord, SessionLedger
from core.money.pricing import format_usd, load_price_table
from core.patterns.streaming import StreamCapture, timed_invoke

PLANTED_KEY = "sk-planted-0123456789abcdefPLANTED"


@pytest.fixture(scope="module")
def real_ledger(embedded_server, tmp_path_factory) -> SessionLedger:
    """Calls on three pages (streaming, metadata, batch) to the embedded model."""
    from core.call.models import build_chat_model, resolve_endpoint
    from core.settings import ModelSettings, Provider

    settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=8, seed=7)
    endpoint = resolve_endpoint(settings, embedded_server)
    ledger = SessionLedger()

    def config(pattern: str) -> dict:
        return {"callbacks": [ledger.callback(pattern=pattern, provider="Local",
                                              secrets=(embedded_server.api_key,))]}

    capture = StreamCapture(build_chat_model(settings, endpoint), "Name a colour.", config("streaming"))
    "".join(capture.text_chunks())
    timed_invoke(build_chat_model(settings, endpoint), "Say hi.", config("metadata"))
    build_chat_model(settings, endpoint).batch(["One.", "Two."], config=config("batch"))
    assert len(ledger) == 4
    return ledger


def _inputs(ledger: SessionLedger, server) -> ReportInputs:
    return ReportInputs(
        records=ledger.records(),
        price_table=load_price_table(),
        endpoints=(EndpointLine("Local · " + server.model_name, server.base_url, server.model_name),),
        secrets=(server.api_key, PLANTED_KEY),
    )


def test_an_empty_session_gets_a_message_not_a_file() -> None:
    with pytest.raises(EmptySession) as raised:
        build_report(ReportInputs(records=[], price_table=load_price_table()))
    assert str(raised.value) == EMPTY_SESSION_MESSAGE


def test_the_report_holds_every_calls_figures_and_no_key(real_ledger, embedded_server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    page = build_report(_inputs(real_ledger, embedded_server))
    assert PLANTED_KEY not in page and embedded_server.api_key not in page
    for section in ("pattern-streaming", "pattern-metadata", "pattern-batch", "ledger"):
        assert f'id="{section}"' in page
    stream = real_ledger.records()[0]
    assert f"{stream.trace.ttft_s:.3f} s" in page  # the same TTFT the page showed
    table = load_price_table()
    totals = session_totals(cost_calls(real_ledger.records(), table))
    assert totals.summary() in page
    assert f"as of <b id=\"prices-as-of\">{table.as_of}</b>" in page
    assert embedded_server.model_name in page and embedded_server.base_url in page
    assert "<script src=" not in page and "<link " not in page  # nothing fetched: plotly.js is inline


def test_model_text_never_becomes_markup() -> None:
    trace = CallTrace("r1", pattern="streaming", provider="Local", model_requested="m",
                      origin=0.0, lc_start=0.0, lc_end=0.5, finished=0.5)
    trace.outcome = Outcome("complete", text="<script>alert('x')</script><b>bold</b>",
                            usage=Usage(3, 4, 7), finish_reason="stop", model="m<i>")
    record = CallRecord.from_trace(trace)
    page = build_report(ReportInputs(records=[record], price_table=load_price_table()))
    assert "<script>alert" not in page and "<b>bold</b>" not in page and "m<i>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_scrub_removes_secrets_even_inside_other_text() -> None:
    assert scrub(f"url?key={PLANTED_KEY}&x", [PLANTED_KEY, ""]) == "url?key=[redacted]&x"


@pytest.mark.e2e
def test_the_report_opens_offline_in_chromium_with_its_charts(real_ledger, embedded_server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from components.trace_view import waterfall_figure
    from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS

    inputs = _inputs(real_ledger, embedded_server)
    inputs = ReportInputs(**{**inputs.__dict__, "waterfall_figure": waterfall_figure,
                             "generated_at": dt.datetime.now(dt.UTC)})
    path = tmp_path / "report.html"
    path.write_text(build_report(inputs), encoding="utf-8")
    stream = real_ledger.records()[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        context.set_offline(True)
        page = context.new_page()
        page.goto(path.as_uri())
        page.wait_for_function("() => window.Plotly !== undefined")
        drawn = page.locator(".js-plotly-plot .main-svg")
        drawn.first.wait_for()
        assert drawn.count() >= 3  # a waterfall per traced call, drawn by the inline plotly.js
        text = page.inner_text("body")
        assert f"{stream.trace.ttft_s:.3f} s" in text
        totals = session_totals(cost_calls(real_ledger.records(), load_price_table()))
        assert format_usd(totals.cost_usd) in page.inner_text("#total-cost")
        for heading in ("Streaming", "Batch", "Metadata & cost"):
            assert page.locator("h2", has_text=heading).count() == 1
        # Printing redraws every chart to fit the paper (A4 / Letter): none is cut at the edge.
        widest = "() => Math.max(...[...document.querySelectorAll('.js-plotly-plot .main-svg')].map(s => s.getBoundingClientRect().width))"
        assert page.evaluate(widest) > PRINT_WIDTH_PX
        page.emulate_media(media="print")
        page.wait_for_function(f"{widest} <= {PRINT_WIDTH_PX}")
        pdf_context = browser.new_context()
        pdf_page = pdf_context.new_page()
        pdf_context.set_offline(True)
        pdf_page.goto(path.as_uri())
        assert len(pdf_page.pdf()) > 10_000  # prints (headless chromium's PDF) without error
        browser.close()
    written = path.read_text(encoding="utf-8")
    assert PLANTED_KEY not in written and embedded_server.api_key not in written


def test_every_pages_kept_results_are_in_the_report(real_ledger, embedded_server, tmp_path: Path) -> None:
    """Stream vs. wait, Measure, the batch job and sweep (with goodput), async and a Compare race."""
    import time

    from components.batch_view import load_frame, sweep_table
    from components.compare_view import summary_frame
    from components.measure_view import stats_frame
    from components.report_view import (
        ASYNC_RUNS,
        BATCH_JOB,
        BATCH_SLO,
        BATCH_SWEEP,
        COMPARE_RUN,
        JOB_STORE,
        MEASURE_JOB,
        PRICES,
        STREAMING_COMPARISON,
        page_sections,
    )
    from core.batch import JobStore, RunOptions, run_job, start_sweep
    from core.batch.sweep_load import load_points
    from core.call.bridge import run_async
    from core.call.models import build_chat_model, resolve_endpoint
    from core.call.stats import Slo
    from core.patterns.compare import CompareRun, race, summarise
    from core.patterns.concurrency import Mode, run_mode
    from core.patterns.measure import MeasureJob
    from core.settings import ModelSettings, Provider

    settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=6, seed=7)
    endpoint = resolve_endpoint(settings, embedded_server)
    measure = MeasureJob(lambda: build_chat_model(settings, endpoint), "Name a colour.", runs=2, warmup=0,
                         endpoint="Local", model=embedded_server.model_name)
    measure.start().join(120)
    store = JobStore(tmp_path / "jobs.sqlite")
    job_id = store.create_job(["One.", "Two."], line_numbers=[1, 2], source="test", endpoint="Local",
                              model=embedded_server.model_name, max_concurrency=2, retries=0)
    run_job(store, job_id, build_chat_model(settings, endpoint), RunOptions(max_concurrency=2))
    sweep_id = start_sweep(store, ["One.", "Two."], [1, 2],
                           lambda: build_chat_model(settings, endpoint, streaming=True), RunOptions(),
                           source="test", endpoint="Local", model=embedded_server.model_name)
    deadline = time.monotonic() + 120
    while not store.sweep(sweep_id).status.finished and time.monotonic() < deadline:
        time.sleep(0.2)

    async def work(http: object) -> list:
        llms = [build_chat_model(settings, endpoint, http_async_client=http) for _ in range(2)]
        return await race(llms, "Say hi.", [None, None])

    compare = CompareRun("r1", "race", ["A · Embedded model", "B · Embedded model"], "Say hi.",
                         calls=run_async(work))
    gathered = run_mode(Mode.GATHER, ["One.", "Two."], lambda **kw: build_chat_model(settings, endpoint, **kw))
    waited = timed_invoke(build_chat_model(settings, endpoint), "Say hi.")
    streamed = StreamCapture(build_chat_model(settings, endpoint), "Say hi.")
    "".join(streamed.text_chunks())
    prices = load_price_table()
    slo = (5000.0, None, 30.0)
    state = {MEASURE_JOB: measure, JOB_STORE: store, BATCH_JOB: job_id, BATCH_SWEEP: sweep_id,
             **dict(zip(BATCH_SLO, slo, strict=True)), COMPARE_RUN: compare, PRICES: prices,
             ASYNC_RUNS: {"Embedded model": {Mode.GATHER: gathered}},
             STREAMING_COMPARISON: (waited, streamed.record)}
    sections = page_sections(state)
    titles = [s.title for s in sections]
    assert titles == ["Stream vs. wait", "Measure: the same call N times", "Batch summary",
                      "Concurrency sweep", "Async runs", "Compare: race"]
    page = build_report(ReportInputs(records=real_ledger.records(), price_table=prices, sections=sections))

    def cell(frame, row: int, column: str) -> str:  # as the report escapes it
        return html.escape(str(frame.iloc[row][column]), quote=True)

    summary = measure.snapshot().summary()
    assert summary.succeeded == 2
    assert f"<td>{cell(stats_frame(summary), 0, 'p50')}</td>" in page  # the TTFT p50 the page showed
    assert "Definitions (this lab)" in page
    sweep = store.sweep(sweep_id)
    levels = sweep_table(sweep)
    assert f"<td>{cell(levels, 1, 'wall time')}</td>" in page
    load = load_frame(load_points(store, sweep), Slo(*slo))
    assert "good calls" in page and f"<td>{cell(load, 0, 'good calls')}</td>" in page
    assert "rows done · failed" in page and "2 of 2 · 0" in page
    compared = summary_frame(summarise(compare, prices), repeated=False)
    assert f"<td>{cell(compared, 0, 'TTFT')}</td>" in page
    assert f"wall {gathered.wall_s:.2f} s" in page
    assert f"{waited.trace.e2e_s:.3f} s" in page
    # Charts: stream vs. wait, the ECDF, the sweep's two, the async timeline; plotly divs drawn
    # by the inline plotly.js.
    assert page.count('class="plotly-graph-div"') >= 5
