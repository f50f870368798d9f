"""The session report: built from real calls to the embedded model, opened offline in chromium."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.costs import cost_calls, session_totals
from core.ledger import CallRecord, SessionLedger
from core.pricing import format_usd, load_price_table
from core.report import (
    EMPTY_SESSION_MESSAGE,
    EmptySession,
    EndpointLine,
    ReportInputs,
    build_report,
    scrub,
)
from core.streaming import StreamCapture, timed_invoke
from core.trace import CallTrace, Outcome, metrics
from core.usage import Usage

PLANTED_KEY = "sk-planted-0123456789abcdefPLANTED"


@pytest.fixture(scope="module")
def real_ledger(embedded_server, tmp_path_factory) -> SessionLedger:
    """Calls on three pages (streaming, metadata, batch) to the embedded model."""
    from core.models import build_chat_model, resolve_endpoint
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
    assert f"{metrics(stream.trace).ttft_s:.3f} s" in page  # the same TTFT the page showed
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
        assert f"{metrics(stream.trace).ttft_s:.3f} s" in text
        totals = session_totals(cost_calls(real_ledger.records(), load_price_table()))
        assert format_usd(totals.cost_usd) in page.inner_text("#total-cost")
        for heading in ("Streaming", "Batch", "Metadata & cost"):
            assert page.locator("h2", has_text=heading).count() == 1
        pdf_context = browser.new_context()
        pdf_page = pdf_context.new_page()
        pdf_context.set_offline(True)
        pdf_page.goto(path.as_uri())
        assert len(pdf_page.pdf()) > 10_000  # prints (headless chromium's PDF) without error
        browser.close()
    written = path.read_text(encoding="utf-8")
    assert PLANTED_KEY not in written and embedded_server.api_key not in written
