"""The "Session report" download: gathers this session's ledger and pages' results for core/export/report.py.

The pages keep their last results in `st.session_state` (LAST_* keys); the figures for them are
drawn by the pages' own figure functions (which never call st.*), so the report shows the charts
the audience saw. The file is built only when the button is clicked (deferred `data`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import streamlit as st

from components.prices import current_price_table
from components.runtime import (
    current_endpoint,
    current_replay,
    current_settings,
    embedded_status_if_ready,
    ledger,
    session_secrets,
)
from core.export.report import (
    EMPTY_SESSION_MESSAGE,
    EndpointLine,
    ReportFigure,
    ReportInputs,
    ReportSection,
    ReportTable,
    build_report,
    report_filename,
)
from core.settings import Provider

_log = logging.getLogger(__name__)

# The pages' session-state keys (pages/*.py, components/measure_view.py): read here, never written.
STREAMING_COMPARISON = "streaming.last_comparison"
MEASURE_JOB = "streaming.measure_job"
EVENTS_RUN = "events.last_run"
ASYNC_RUNS = "async.runs"
BATCH_JOB = "batch.job_id"
BATCH_SWEEP = "batch.sweep_id"
BATCH_SLO = ("batch.slo_ttft_ms", "batch.slo_tpot_ms", "batch.slo_e2e_s")
COMPARE_RUN = "compare.last"
LOAD_SWEEP = "load.sweep"
CHAT_CONVERSATION = "chat.conversation"
CHAT_REPLAY = "chat.replay"
CHAT_PRICE_AS = "chat.price_as"
CHAT_STRATEGY = "chat.strategy"
SEEN_ENDPOINTS = "report.endpoints"
# Put into the state snapshot by `report_inputs` (the report is built off the script thread).
JOB_STORE = "report.job_store"
PRICES = "report.price_table"


def remember_endpoint() -> None:
    """Note the current endpoint (without its key) so the report can name every one used."""
    if (current_replay() is None and current_settings().provider is Provider.LOCAL
            and embedded_status_if_ready() is None):
        return  # still loading: never wait for the model here (Home draws while it loads)
    try:
        endpoint = current_endpoint()
    except Exception:  # no endpoint yet (the embedded model is off): nothing to remember
        return
    direct = endpoint.direct
    line = EndpointLine(
        label=endpoint.replay or f"{direct.provider.label} · {direct.model}",
        base_url=direct.base_url, model=direct.model,
        note="replay of a recording, not live" if endpoint.replay else endpoint.network or "direct",
    )
    seen: list[EndpointLine] = st.session_state.setdefault(SEEN_ENDPOINTS, [])
    if line not in seen:
        seen.append(line)


def page_sections(state: Any) -> list[ReportSection]:
    """The pages' kept results as report sections (whatever exists).

    A section that cannot be made (a page's state from an older shape, a bug) does not cost the
    whole report, nor vanish: it is listed under its heading with the reason, and the terminal
    gets the traceback.
    """
    sections: list[ReportSection] = []
    for make, pattern, title in SECTION_MAKERS:
        try:
            made = make(state)
        except Exception as exc:
            _log.exception("the report's section %r could not be drawn", title)
            made = ReportSection.not_drawn(pattern, title, exc)
        if made is not None:
            sections.append(made)
    return sections


def _records(frame: Any) -> list[dict[str, object]]:
    return list(frame.to_dict("records"))


def _measure(state: Any) -> ReportSection | None:
    """The Streaming page's "Measure": the p50/p90 table, the ECDF chart and the definitions."""
    job = state.get(MEASURE_JOB)
    if job is None:
        return None
    from components.measure_view import ecdf_figure, stats_frame
    from core.call.metric_definitions import definitions_rows
    from core.patterns.measure import PERCENTILE_METHOD

    snapshot = job.snapshot()
    summary = snapshot.summary()
    if not summary.succeeded:
        return None
    facts = (
        ("prompt", snapshot.prompt[:120]), ("endpoint", snapshot.endpoint),
        ("runs", f"{summary.succeeded} successful of {summary.calls} · {snapshot.warmup_done} warm-up discarded"),
        ("state", snapshot.phase.value),
    )
    definitions = [{"metric": r["metric"], "this lab": r["this lab"]} for r in definitions_rows()]
    return ReportSection("streaming", "Measure: the same call N times", facts, (
        ReportFigure("TTFT and e2e latency, run by run (ECDF)", ecdf_figure(summary),
                     "Each step is one run; the dotted lines are p50 and p90."),
    ), (
        ReportTable.of_records("Distribution", _records(stats_frame(summary)),
                               f"Percentiles: {PERCENTILE_METHOD}. TPOT and tokens/s use "
                               f"{summary.token_note}. ITL pools every gap of every run."),
        ReportTable.of_records("Definitions (this lab)", definitions),
    ))


def _batch(state: Any) -> ReportSection | None:
    """The Batch page's job: rows done and failed, wall time, tokens and cost."""
    store, job_id = state.get(JOB_STORE), state.get(BATCH_JOB)
    job = store.job(job_id) if store is not None and job_id else None
    if job is None:
        return None
    from components.display import fmt_seconds
    from core.batch import RowStatus
    from core.money.pricing import format_usd

    rows = store.rows(job.id)
    done = [r for r in rows if r.status is RowStatus.DONE]
    run = store.run(job)
    costs = [r.cost_usd for r in done if r.cost_usd is not None]
    facts = (
        ("job", f"{job.id} · {job.source} · {job.endpoint}"),
        ("max_concurrency", str(job.max_concurrency)),
        ("rows done · failed", f"{len(done):,} of {job.n_rows:,} · {job.count(RowStatus.FAILED):,}"),
        ("wall time", fmt_seconds(job.wall_s) if job.wall_s else "not finished"),
        ("tokens in / out", f"{run.input_tokens:,} / {run.output_tokens or 0:,}"
         if run.input_tokens is not None else "not reported"),
        ("cost", (format_usd(sum(costs)) + ("" if len(costs) == len(done) else " + rows without usage"))
         if costs else "unknown (no usage or no price)"),
        ("outcome", job.outcome),
    )
    return ReportSection("batch", "Batch summary", facts)


def _sweep(state: Any) -> ReportSection | None:
    """The concurrency sweep: its levels table and chart, and the load figures with goodput."""
    store, sweep_id = state.get(JOB_STORE), state.get(BATCH_SWEEP)
    sweep = store.sweep(sweep_id) if store is not None and sweep_id else None
    if sweep is None:
        return None
    from components.batch_view import load_figure, load_frame, sweep_figure, sweep_table
    from core.batch.sweep_load import all_failed, load_points
    from core.call.stats import Slo

    slo: Slo | None = None
    with contextlib.suppress(Exception):  # an unusable SLO: the page said so; no goodput here
        slo = Slo(*(state.get(k) for k in BATCH_SLO))
        slo = slo if slo.is_set else None
    facts = [("sweep", f"{sweep.id} · {sweep.n_rows} prompts from {sweep.source} · {sweep.endpoint}"),
             ("levels", ", ".join(map(str, sweep.levels))), ("outcome", sweep.outcome),
             *([("problem", sweep.problem)] if sweep.problem else []),
             ("goodput SLO", slo.describe() if slo else "none set: goodput not measured")]
    tables = [ReportTable.of_records("Levels", _records(sweep_table(sweep)),
                                     "ideal = ceil(N / c) × one call's latency at c = 1.")]
    figures = []
    if any(p.job.wall_s for p in sweep.points):
        figures.append(ReportFigure("Wall time and throughput against max_concurrency", sweep_figure(sweep),
                                    "Where the measured line leaves the dashed ideal, the endpoint is the bottleneck."))
    points = load_points(store, sweep)
    if points and not all_failed(points):
        tables.append(ReportTable.of_records("Load per level", _records(load_frame(points, slo)),
                                             "Failed calls are counted and left out of the latency columns."))
        if any(p.finished and p.run.wall_s for p in points):
            figures.append(ReportFigure("Latency percentiles, requests/s and goodput", load_figure(points, slo)))
    return ReportSection("batch", "Concurrency sweep", tuple(facts), tuple(figures), tuple(tables))


def _compare(state: Any) -> ReportSection | None:
    """The Compare page's last race or repeat: the summary table and the ratios."""
    run = state.get(COMPARE_RUN)
    prices = state.get(PRICES)
    if run is None or prices is None:
        return None
    from components.compare_view import summary_frame
    from core.patterns.compare import ratios, summarise

    summaries = summarise(run, prices)
    repeated = run.kind == "repeat"
    facts = [("prompt", run.prompt[:120]),
             ("kind", f"repeat, {run.rounds} rounds in turn" if repeated else "race (all at once)")]
    facts += [("ratio", r.sentence) for r in ratios(summaries)]
    return ReportSection("compare", "Compare: " + ("repeat" if repeated else "race"), tuple(facts), (), (
        ReportTable.of_records("Summary", _records(summary_frame(summaries, repeated=repeated)),
                               "TTFT = start to first text; tokens/s = output tokens after the first over "
                               "first to last text; total = start to the last chunk."),
    ))


def _comparison(state: Any) -> ReportSection | None:
    if STREAMING_COMPARISON not in state:
        return None
    from components.streaming_view import stream_vs_wait_figure

    waited, streamed = state[STREAMING_COMPARISON]
    if not (waited.ok and streamed.ok):
        return None
    facts = (
        ("invoke: whole answer after", f"{waited.trace.e2e_s:.3f} s"),
        ("stream: first word after", f"{streamed.trace.ttft_s:.3f} s"
         if streamed.trace.ttft_s is not None else "not reported"),
        ("stream: done after", f"{streamed.trace.e2e_s:.3f} s"),
    )
    return ReportSection("streaming", "Stream vs. wait", facts, (
        ReportFigure("Characters on screen over time", stream_vs_wait_figure(waited, streamed),
                     "invoke shows nothing until the end; stream shows the first word early."),
    ))


def _chat(state: Any) -> ReportSection | None:
    """The Chat page's conversation: per-turn figures with their sources, the chart over turns,
    and the cache-off replay's chart when there is one."""
    conv = state.get(CHAT_CONVERSATION)
    prices = state.get(PRICES)
    if conv is None or not conv.turns or prices is None:
        return None
    from components.chat_view import cache_figure, conversation_summary, turns_figure
    from core.patterns.conversation import call_figures

    chosen = state.get(CHAT_PRICE_AS)
    priced_as = chosen if chosen and chosen != "the endpoint's own model" else None
    model = priced_as or next((t.trace.model for t in conv.turns if t.trace is not None), None)
    price = prices.price_for(model)
    figures = conv.figures(price)
    facts = [
        ("turns", conversation_summary(conv, figures)),
        ("history", str(state.get(CHAT_STRATEGY) or "Keep everything")),
        ("system prompt", conv.system_prompt[:200]),
        ("priced as", f"{model} (prices as of {prices.as_of})" if price is not None else f"{model}: no price"),
        ("context window", conv.window.source),
    ]
    rows = [{k: "not reported" if v is None else v for k, v in f.as_record().items()
             if k not in ("context_window_source", "cost_usd", "cumulative_cost_usd")} for f in figures]
    section_figures = [ReportFigure("Input tokens (cached vs new), TTFT and cost over turns", turns_figure(figures),
                                    "Each turn resends the history: green is what the server's cache served.")]
    replay = state.get(CHAT_REPLAY)
    if replay and replay[0] == conv.id:
        sent = [f for turn, f in zip(conv.turns, figures, strict=True) if turn.sent]
        off = [call_figures(f.number, trace, price, conv.window) for f, trace in zip(sent, replay[2], strict=False)]
        section_figures.append(ReportFigure("TTFT and prefill per turn, with the cache and without", cache_figure(sent, off),
                                            "The same prompts replayed with llama.cpp's cache_prompt: false."))
    return ReportSection("chat", "Conversation", tuple(facts), tuple(section_figures), (
        ReportTable.of_records("Per turn", rows, "Every figure names its source; \"not reported\" is never 0."),
    ))


def _events(state: Any) -> ReportSection | None:
    if EVENTS_RUN not in state:
        return None
    from components.events_view import events_timeline_figure

    run = state[EVENTS_RUN]
    recorder = run.recorder
    until = recorder.error_at_s if recorder.error_at_s is not None else recorder.total_s
    facts = (("chain", str(run.chain_key)), ("topic", str(run.topic)),
             ("events received", str(len(recorder.events))))
    figure = events_timeline_figure(recorder.spans(recorder.events), until_s=until,
                             error_at_s=recorder.error_at_s, error_step=recorder.error_step)
    return ReportSection("events", "Last events run", facts,
                         (ReportFigure("Events timeline", figure, "One bar per run, stream chunks as ticks."),))


def _async(state: Any) -> ReportSection | None:
    runs = state.get(ASYNC_RUNS) or {}
    if not runs:
        return None
    from components.async_view import mode_title, modes_timeline_figure

    figures = []
    facts = []
    for situation, by_mode in runs.items():
        shown = list(by_mode.values())
        if not shown:
            continue
        figures.append(ReportFigure(f"Timeline — {situation}", modes_timeline_figure(shown)))
        facts += [(f"{situation}: {mode_title(r)}",
                   f"wall {r.wall_s:.2f} s" if r.wall_s is not None else "not finished") for r in shown]
    if not figures:
        return None
    return ReportSection("async", "Async runs", tuple(facts), tuple(figures))


def _load(state: Any) -> ReportSection | None:
    """The Load test page's last sweep: the knee, the levels, the percentile chart."""
    sweep = state.get(LOAD_SWEEP)
    if sweep is None or not sweep.levels:
        return None
    from components.load_view import levels_frame, percentiles_figure, timeline_figure
    from core.call.stats import Slo, SloError
    from core.patterns.load_sweep import knee, saturation

    try:
        slo: Slo | None = Slo(*(state.get(k) for k in BATCH_SLO))
    except SloError:
        slo = None
    if slo is not None and not slo.is_set:
        slo = None
    found = knee(sweep.levels, slo) if slo is not None else None
    facts = [("load", sweep.spec.describe().split(", ", 1)[1]), ("rates", ", ".join(f"{r:g}" for r in sweep.rates)),
             ("SLO", slo.describe() if slo else "none set")]
    if found is not None:
        facts.append(("knee", found.sentence))
    if saturation(sweep.levels):
        facts.append(("saturation", saturation(sweep.levels)))
    if sweep.stopped:
        facts.append(("stopped", "arrivals ended and the calls in flight were cancelled"))
    last = sweep.levels[-1]
    return ReportSection("load", "Load test: rate sweep", tuple(facts), (
        ReportFigure("Latency percentiles against the offered rate", percentiles_figure(sweep.levels, slo, found),
                     "Dashed grey: the SLO; red: the first rate past it."),
        ReportFigure(f"{last.label} on its time axis", timeline_figure(last),
                     "The client's calls in flight beside the server's own processing and deferred requests."),
    ), (
        ReportTable.of_records("Levels", _records(levels_frame(sweep.levels, slo)),
                               "Failed requests count against goodput and never enter a latency."),
    ))


#: Each page's section maker, with the pattern and heading its section is filed under.
SECTION_MAKERS: tuple[tuple[Callable[[Any], ReportSection | None], str, str], ...] = (
    (_comparison, "streaming", "Stream vs. wait"),
    (_measure, "streaming", "Measure: the same call N times"),
    (_events, "events", "Last events run"),
    (_batch, "batch", "Batch summary"),
    (_sweep, "batch", "Concurrency sweep"),
    (_async, "async", "Async runs"),
    (_compare, "compare", "Compare"),
    (_load, "load", "Load test: rate sweep"),
    (_chat, "chat", "Conversation"),
)

PAGE_KEYS = (STREAMING_COMPARISON, MEASURE_JOB, EVENTS_RUN, ASYNC_RUNS, BATCH_JOB, BATCH_SWEEP,
             *BATCH_SLO, COMPARE_RUN, LOAD_SWEEP, CHAT_CONVERSATION, CHAT_REPLAY, CHAT_PRICE_AS, CHAT_STRATEGY)


def report_inputs(state: Any | None = None) -> tuple[ReportInputs, Any]:
    """Everything this session holds that belongs in the report.

    Args:
        state: the pages' kept results (a dict of `PAGE_KEYS`); this session's by default.
    """
    from components.trace_view import waterfall_figure

    remember_endpoint()
    keys = session_secrets()
    # The embedded model may be off: no endpoint, so no endpoint key either.
    with contextlib.suppress(Exception):
        keys = session_secrets(current_endpoint())
    prices = current_price_table()
    if state is None:
        from components.batch_controller import job_store

        state = {k: st.session_state[k] for k in PAGE_KEYS if k in st.session_state}
        state[JOB_STORE], state[PRICES] = job_store(), prices
    return ReportInputs(
        records=ledger().records(),
        price_table=prices,
        endpoints=tuple(st.session_state.get(SEEN_ENDPOINTS, [])),
        sections=(),
        secrets=keys,
        generated_at=dt.datetime.now(dt.UTC),
        waterfall_figure=waterfall_figure,
    ), state


def build_session_report(inputs: ReportInputs, state: Any) -> bytes:
    """The report file's bytes: the pages' figures are drawn here, off the script thread."""
    from dataclasses import replace

    return build_report(replace(inputs, sections=tuple(page_sections(state)))).encode("utf-8")


def report_download_button() -> None:
    """The sidebar's "Session report" button, or a note when nothing has happened yet."""
    remember_endpoint()
    if len(ledger()) == 0:
        st.caption(f":material/description: {EMPTY_SESSION_MESSAGE}")
        return
    inputs, state = report_inputs()
    # Built on click only (deferred data, on Streamlit's own thread): a 5 MB page and its charts
    # should not be rebuilt on every rerun. What it reports is this rerun's snapshot.
    st.download_button(
        "Download session report", data=lambda: build_session_report(inputs, state),
        file_name=report_filename(inputs.generated_at), mime="text/html",
        icon=":material/description:", key="report.download", on_click="ignore",
        help="One HTML file of every call this session made: figures, charts, receipts, ledger "
        "and costs. Opens offline; prints to PDF. Holds no keys.",
    )
