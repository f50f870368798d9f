"""The "Session report" download: gathers this session's ledger and pages' results for core/report.py.

The pages keep their last results in `st.session_state` (LAST_* keys); the figures for them are
drawn by the pages' own figure functions (which never call st.*), so the report shows the charts
the audience saw. The file is built only when the button is clicked (deferred `data`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
    secrets_of,
)
from core.report import (
    EMPTY_SESSION_MESSAGE,
    EndpointLine,
    ReportFigure,
    ReportInputs,
    ReportSection,
    build_report,
    report_filename,
)
from core.settings import Provider

# The pages' session-state keys (pages/*.py): read here, never written.
STREAMING_COMPARISON = "streaming.last_comparison"
EVENTS_RUN = "events.last_run"
ASYNC_RUNS = "async.runs"
SEEN_ENDPOINTS = "report.endpoints"


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


def _sections(state: Any) -> list[ReportSection]:
    """The pages' kept results as report sections (whatever exists; errors in one are skipped)."""
    sections: list[ReportSection] = []
    makers: list[Callable[[Any], ReportSection | None]] = [_comparison, _events, _async]
    for make in makers:
        try:
            made = make(state)
        except Exception:  # a page's state from an older shape must not cost the whole report
            made = None
        if made is not None:
            sections.append(made)
    return sections


def _comparison(state: Any) -> ReportSection | None:
    if STREAMING_COMPARISON not in state:
        return None
    from components.streaming_view import stream_vs_wait_figure

    waited, streamed = state[STREAMING_COMPARISON]
    if not (waited.ok and streamed.ok):
        return None
    facts = (
        ("invoke: whole answer after", f"{waited.total_s:.3f} s"),
        ("stream: first word after", f"{streamed.time_to_first_token_s:.3f} s"
         if streamed.time_to_first_token_s is not None else "not reported"),
        ("stream: done after", f"{streamed.total_s:.3f} s"),
    )
    return ReportSection("streaming", "Stream vs. wait", facts, (
        ReportFigure("Characters on screen over time", stream_vs_wait_figure(waited, streamed),
                     "invoke shows nothing until the end; stream shows the first word early."),
    ))


def _events(state: Any) -> ReportSection | None:
    if EVENTS_RUN not in state:
        return None
    from components.events_view import timeline_figure

    run = state[EVENTS_RUN]
    recorder = run.recorder
    until = recorder.error_at_s if recorder.error_at_s is not None else recorder.total_s
    facts = (("chain", str(run.chain_key)), ("topic", str(run.topic)),
             ("events received", str(len(recorder.events))))
    figure = timeline_figure(recorder.spans(recorder.events), until_s=until,
                             error_at_s=recorder.error_at_s, error_step=recorder.error_step)
    return ReportSection("events", "Last events run", facts,
                         (ReportFigure("Events timeline", figure, "One bar per run, stream chunks as ticks."),))


def _async(state: Any) -> ReportSection | None:
    runs = state.get(ASYNC_RUNS) or {}
    if not runs:
        return None
    from components.async_view import mode_title, timeline_figure

    figures = []
    facts = []
    for situation, by_mode in runs.items():
        shown = list(by_mode.values())
        if not shown:
            continue
        figures.append(ReportFigure(f"Timeline — {situation}", timeline_figure(shown)))
        facts += [(f"{situation}: {mode_title(r)}",
                   f"wall {r.wall_s:.2f} s" if r.wall_s is not None else "not finished") for r in shown]
    if not figures:
        return None
    return ReportSection("async", "Async runs", tuple(facts), tuple(figures))


PAGE_KEYS = (STREAMING_COMPARISON, EVENTS_RUN, ASYNC_RUNS)


def report_inputs(state: Any | None = None) -> tuple[ReportInputs, Any]:
    """Everything this session holds that belongs in the report.

    Args:
        state: the pages' kept results (a dict of `PAGE_KEYS`); this session's by default.
    """
    from components.trace_view import waterfall_figure

    remember_endpoint()
    keys: tuple[str, ...] = ()
    # The embedded model may be off: no endpoint, so no endpoint key either.
    with contextlib.suppress(Exception):
        keys = secrets_of(current_endpoint())
    settings_key = current_settings().api_key.get_secret_value()
    if state is None:
        state = {k: st.session_state[k] for k in PAGE_KEYS if k in st.session_state}
    return ReportInputs(
        records=ledger().records(),
        price_table=current_price_table(),
        endpoints=tuple(st.session_state.get(SEEN_ENDPOINTS, [])),
        sections=(),
        secrets=(*keys, settings_key),
        generated_at=dt.datetime.now(dt.UTC),
        waterfall_figure=waterfall_figure,
    ), state


def build_session_report(inputs: ReportInputs, state: Any) -> bytes:
    """The report file's bytes: the pages' figures are drawn here, off the script thread."""
    from dataclasses import replace

    return build_report(replace(inputs, sections=tuple(_sections(state)))).encode("utf-8")


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
