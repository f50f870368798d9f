"""Rendering for the Batch page: the job panel, results table, estimate strip and sweep chart.

Everything here reads the job store; nothing here runs model calls. The job itself runs on a
worker thread (core.batch), so these functions can be called on every rerun or every tick
of a polling fragment without disturbing it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import theme
from components.display import fmt_seconds
from core.batch import (
    JobInfo,
    JobStatus,
    JobStore,
    RowResult,
    RowStatus,
    SweepInfo,
    ideal_wall_s,
    row_failures,
    run_of,
)
from core.batch.estimate import BatchEstimate
from core.batch.export import cost_note
from core.batch.sweep_load import LoadPoint, all_failed, goodput_peak, load_points
from core.call.failures import failure_line
from core.call.stats import PERCENTILES, Slo, SloError, min_samples_for
from core.money.pricing import ModelPrice, format_usd
from core.security.untrusted import escape_markdown

MEASURED_COLOR = theme.BLUE
IDEAL_COLOR = theme.GREY
FAILED_COLOR = theme.RED
# Plain symbols that every font has: emoji render as empty boxes on some projectors' machines.
STATUS_LABELS = {
    RowStatus.QUEUED: "· queued",
    RowStatus.RUNNING: "▶ running",
    RowStatus.DONE: "✓ done",
    RowStatus.FAILED: "✗ failed",
    RowStatus.CANCELLED: "– cancelled",
}


def estimate_strip(estimate: BatchEstimate, *, max_tokens: int, price: ModelPrice | None) -> None:
    """Calls, estimated input tokens and estimated cost, labelled as estimates."""
    cols = st.columns(3)
    cols[0].metric("Calls", f"{estimate.calls:,}", help="One call per prompt.")
    cols[1].metric(
        "Input tokens (estimate)",
        f"{estimate.tokens.input_tokens:,}",
        help=estimate.tokens.method,
    )
    if price is None:
        cost_text = "no price"
        cost_help = "This model is not in the price table, so no cost can be given (not $0)."
    elif price.is_free:
        cost_text = "$0.00"
        cost_help = "The price table lists this model at $0 (it runs on this machine)."
    else:
        cost_text = f"{format_usd(estimate.input_cost_usd)} – {format_usd(estimate.max_cost_usd)}"
        cost_help = (
            "From the input tokens alone, up to every answer using all max tokens "
            f"({estimate.max_output_tokens:,} output tokens)."
        )
    cols[2].metric("Cost (estimate)", cost_text, help=cost_help)
    st.caption(
        f"Estimates. Input tokens: {estimate.tokens.method}. Output tokens are unknown until "
        f"the answers exist; at most {max_tokens:,} per call (max tokens in the sidebar)."
    )


def results_frame(rows: Sequence[RowResult]) -> pd.DataFrame:
    """Rows as a table. Latency, tokens and cost stay numbers (a header click sorts them as
    numbers); why a figure is missing ("usage not reported", "no price", "failed") is in `note`.
    """
    return pd.DataFrame(
        {
            "#": [r.index + 1 for r in rows],
            "status": [STATUS_LABELS[r.status] for r in rows],
            "input": [r.input for r in rows],
            "output": [r.output or "" for r in rows],
            "latency": pd.array([r.latency_s for r in rows], dtype="Float64"),
            "tokens in": pd.array([r.input_tokens for r in rows], dtype="Int64"),
            "tokens out": pd.array([r.output_tokens for r in rows], dtype="Int64"),
            "cost": pd.array([r.cost_usd for r in rows], dtype="Float64"),
            "note": [cost_note(r) for r in rows],
            "finish": [r.finish_reason or "" for r in rows],
            "error": [r.error or "" for r in rows],
        }
    )


def results_table(rows: Sequence[RowResult], *, key: str) -> None:
    st.dataframe(
        results_frame(rows),
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(rows), 420),
        key=key,
        column_config={
            "#": st.column_config.NumberColumn(width=40),
            "status": st.column_config.TextColumn(width=110),
            "input": st.column_config.TextColumn(width=260),
            "output": st.column_config.TextColumn(width=420),
            "latency": st.column_config.NumberColumn(
                width=80, format="%.2f s", help="From the call's start to its end, in seconds."),
            "tokens in": st.column_config.NumberColumn(width=80, format="%d"),
            "tokens out": st.column_config.NumberColumn(width=80, format="%d"),
            "cost": st.column_config.NumberColumn(
                width=100, format="$%.6f", help="US dollars; empty when unknown (see note), never $0."),
            "note": st.column_config.TextColumn(
                width=130, help="Why a figure is missing: usage not reported, no price, failed, not run."),
            "finish": st.column_config.TextColumn(width=70),
        },
    )


def failure_summary(job: JobInfo, rows: Sequence[RowResult]) -> None:
    """One line above the table when rows failed: how many, grouped by cause, and what to do."""
    line = failure_line(row_failures(rows), total=job.n_rows)
    if line:
        st.error(line, icon=":material/error:")


def job_summary(job: JobInfo, rows: Sequence[RowResult]) -> None:
    """Progress bar and a metric strip: done, failed, wall time, tokens, cost."""
    running = job.count(RowStatus.RUNNING)
    failed = job.count(RowStatus.FAILED)
    cancelled = job.count(RowStatus.CANCELLED)
    parts = [f"{job.completed:,} / {job.n_rows:,} rows finished"]
    if running:
        parts.append(f"{running:,} running")
    if failed:
        parts.append(f"{failed:,} failed")
    if cancelled:
        parts.append(f"{cancelled:,} cancelled")
    st.progress(job.progress, text=" · ".join(parts))

    done = [r for r in rows if r.status is RowStatus.DONE]
    run = run_of(job, rows)
    cols = st.columns(4)
    cols[0].metric("Done · failed", f"{len(done):,} · {failed:,}")
    if job.status is JobStatus.RUNNING and job.started_at:
        cols[1].metric("Wall time", fmt_seconds(time.time() - job.started_at) + " …")
    else:
        cols[1].metric("Wall time", fmt_seconds(job.wall_s),
                       help="Start to end of the latest run of this job (a retry is its own run).")
    if run.input_tokens is not None:
        cols[2].metric(
            "Tokens in / out",
            f"{run.input_tokens:,} / {run.output_tokens or 0:,}",
            help=None if not run.usage_missing else
            f"{run.usage_missing} rows had no usage reported; they are not counted.",
        )
    else:
        cols[2].metric("Tokens in / out", "—" if not done else "not reported")
    costs = [r.cost_usd for r in done if r.cost_usd is not None]
    if done and len(costs) == len(done):
        cols[3].metric("Cost", format_usd(sum(costs)), help=job.price_note or None)
    elif costs:
        cols[3].metric("Cost", format_usd(sum(costs)) + " +",
                       help=f"{len(done) - len(costs)} rows have no cost (no usage reported).")
    else:
        cols[3].metric("Cost", "no price" if done else "—", help=job.price_note or None)


def job_heading(job: JobInfo) -> str:
    started = time.strftime("%H:%M:%S", time.localtime(job.created_at))
    return (
        f"Job `{job.id}` · {escape_markdown(job.source)} · {escape_markdown(job.endpoint)} · "
        f"max_concurrency {job.max_concurrency}"
        + (f" · {job.retries} extra attempts" if job.retries else "")
        + f" · created {started} · **{job.outcome}**"
    )


def sweep_figure(sweep: SweepInfo) -> go.Figure:
    """Wall time and throughput against max_concurrency, each with its ideal line."""
    points = sorted(
        (p for p in sweep.points if p.job.status is JobStatus.DONE and p.job.wall_s), key=lambda p: p.concurrency
    )
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.1,
        subplot_titles=("Wall time (lower is better)", "Throughput (higher is better)"),
    )
    levels = [p.concurrency for p in points]
    per_call = sweep.per_call_s
    ys: Sequence[float | None]  # the ideal lines and the measured ones (a figure may be missing)
    if per_call:
        ideal_levels = sorted(set(sweep.levels))
        ideal_wall = [ideal_wall_s(sweep.n_rows, c, per_call) for c in ideal_levels]
        for col, ys in ((1, ideal_wall), (2, [sweep.n_rows / w for w in ideal_wall])):
            fig.add_trace(
                go.Scatter(
                    x=ideal_levels, y=ys, mode="lines", name="ideal: ceil(N / c) × one call's latency",
                    line={"color": IDEAL_COLOR, "width": 3, "dash": "dash"}, showlegend=col == 1,
                ),
                row=1, col=col,
            )
    # A level where calls failed did less work in its wall time: mark it rather than hide it.
    marker = {
        "size": [11 if p.job.count(RowStatus.FAILED) == 0 else 16 for p in points],
        "symbol": ["circle" if p.job.count(RowStatus.FAILED) == 0 else "x" for p in points],
        "color": [MEASURED_COLOR if p.job.count(RowStatus.FAILED) == 0 else FAILED_COLOR for p in points],
    }
    for col, ys in ((1, [p.job.wall_s for p in points]), (2, [p.throughput for p in points])):
        fig.add_trace(
            go.Scatter(
                x=levels, y=ys, mode="lines+markers", name="measured (✗: some calls failed)"
                if any(p.job.count(RowStatus.FAILED) for p in points) else "measured",
                line={"color": MEASURED_COLOR, "width": 4}, marker=marker, showlegend=col == 1,
            ),
            row=1, col=col,
        )
    ticks = sorted(set(sweep.levels))
    for col in (1, 2):
        fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks],
                         title_text="max_concurrency", row=1, col=col)
    fig.update_yaxes(title_text="seconds", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="calls / second", rangemode="tozero", row=1, col=2)
    fig.update_layout(
        height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.28, "font": {"size": 15}},
        font={"size": 15},
    )
    fig.update_annotations(font_size=16)
    return fig


def sweep_failure_lines(sweep: SweepInfo, store: JobStore) -> list[str]:
    """One line per level whose calls failed: "max_concurrency 8: 3 of 8 calls failed: …"."""
    lines = []
    for point in sorted(sweep.points, key=lambda p: p.concurrency):
        if point.job.count(RowStatus.FAILED):
            line = failure_line(row_failures(store.rows(point.job.id)), total=point.job.n_rows, noun="call")
            lines.append(f"max_concurrency {point.concurrency}: {line}")
    return lines


def sweep_table(sweep: SweepInfo) -> pd.DataFrame:
    """One row per level: wall time, ideal, ratio, throughput, median latency."""
    per_call = sweep.per_call_s
    records = []
    for p in sorted(sweep.points, key=lambda p: p.concurrency):
        ideal = ideal_wall_s(sweep.n_rows, p.concurrency, per_call) if per_call else None
        wall = p.job.wall_s
        records.append(
            {
                "max_concurrency": p.concurrency,
                "status": p.job.outcome,
                "rows done": f"{p.job.count(RowStatus.DONE)} / {p.job.n_rows}",
                "wall time": fmt_seconds(wall) if wall else "…",
                "ideal": fmt_seconds(ideal) if ideal else "",
                "wall / ideal": f"{wall / ideal:.2f}×" if wall and ideal else "",
                "calls / s": f"{p.throughput:.2f}" if p.throughput else "",
                "median call latency": fmt_seconds(p.run.median_e2e_s) if p.run.median_e2e_s else "",
            }
        )
    return pd.DataFrame(records)


# -- load and goodput of a sweep ----------------------------------------------------------------

GOOD_COLOR = theme.GREEN
P90_COLOR = theme.ORANGE


def slo_inputs() -> Slo | None:
    """Three SLO boxes (empty = no limit on that metric); None, with a message, when unusable."""
    st.markdown("**Goodput**: the calls that met every SLO you set (≤). Empty = no limit on that one.")
    # Seeded through session state, not `value=`: only a box that starts as None can be emptied.
    for key, default in (("batch.slo_ttft_ms", 1000.0), ("batch.slo_e2e_s", 5.0)):
        st.session_state.setdefault(key, default)
    cols = st.columns(3)
    ttft = cols[0].number_input("TTFT ≤ (ms)", value=None, step=100.0, key="batch.slo_ttft_ms",
                                placeholder="no limit")
    tpot = cols[1].number_input("TPOT ≤ (ms)", value=None, step=10.0, key="batch.slo_tpot_ms",
                                placeholder="no limit")
    e2e = cols[2].number_input("e2e ≤ (s)", value=None, step=0.5, key="batch.slo_e2e_s",
                               placeholder="no limit")
    try:
        slo = Slo(ttft_ms=ttft, tpot_ms=tpot, e2e_s=e2e)
    except SloError as exc:
        st.warning(str(exc), icon=":material/warning:")
        return None
    if not slo.is_set:
        st.info("Set at least one SLO to see goodput; the other load figures are below.",
                icon=":material/info:")
        return None
    return slo


def _ms(value: float | None) -> str:
    return "not observed" if value is None else f"{value * 1000:,.0f} ms"


def load_frame(points: Sequence[LoadPoint], slo: Slo | None) -> pd.DataFrame:
    """Per level: calls, failures, request and token throughput, TTFT / e2e p50-p99, goodput."""
    records = []
    # p99 needs 100 calls per level: a column of "needs ≥ 100 runs" would only crowd the table.
    shown = [q for q in PERCENTILES if q != 99 or any(p.calls >= min_samples_for(99) for p in points)]
    for p in points:
        summary = p.summary
        row: dict[str, object] = {
            "max_concurrency": p.concurrency,
            "calls (failed)": f"{p.calls} ({p.failed})",
            "requests / s": f"{p.request_throughput:.2f}" if p.request_throughput else "—",
            "output tokens / s": f"{p.output_token_throughput:.1f}" if p.output_token_throughput else "—",
        }
        for key, label in (("ttft_s", "TTFT"), ("e2e_s", "e2e")):
            d = summary.distributions[key]
            for q in (d.at(pct) for pct in shown):
                if key == "ttft_s" and p.streamed == 0:
                    row[f"{label} p{q.p}"] = "not observed"
                elif q.value is None:
                    row[f"{label} p{q.p}"] = f"needs ≥ {q.needs} runs" if d.count else "—"
                else:
                    row[f"{label} p{q.p}"] = _ms(q.value) if key == "ttft_s" else f"{q.value:.2f} s"
        if slo is not None:
            g = p.goodput(slo)
            row["good calls"] = f"{g.good} / {g.calls} ({g.share:.0%})" if g.calls else "—"
            row["goodput / s"] = f"{g.rate_per_s:.2f}" if g.rate_per_s is not None else "…"
        records.append(row)
    return pd.DataFrame(records)


def load_figure(points: Sequence[LoadPoint], slo: Slo | None) -> go.Figure:
    """Left: TTFT and e2e p50 / p90 per level. Right: request throughput and goodput, peak marked."""
    done = [p for p in points if p.finished and p.run.wall_s]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Latency percentiles (lower is better)",
                                        "Requests / s and goodput (higher is better)"))
    levels = [p.concurrency for p in done]
    for key, label, dash in (("ttft_s", "TTFT", "dot"), ("e2e_s", "e2e", "solid")):
        for pct, color in ((50, MEASURED_COLOR), (90, P90_COLOR)):
            ys = [p.summary.distributions[key].at(pct).value for p in done]
            if any(y is not None for y in ys):
                fig.add_trace(go.Scatter(x=levels, y=ys, mode="lines+markers", name=f"{label} p{pct}",
                                         line={"color": color, "width": 3, "dash": dash}, marker={"size": 9}),
                              row=1, col=1)
    fig.add_trace(go.Scatter(x=levels, y=[p.request_throughput for p in done], mode="lines+markers",
                             name="requests / s", line={"color": IDEAL_COLOR, "width": 3}, marker={"size": 9}),
                  row=1, col=2)
    if slo is not None:
        rates = [p.goodput(slo).rate_per_s for p in done]
        fig.add_trace(go.Scatter(x=levels, y=rates, mode="lines+markers", name=f"goodput ({slo.describe()})",
                                 line={"color": GOOD_COLOR, "width": 4}, marker={"size": 11}), row=1, col=2)
        peak = goodput_peak(done, slo)
        if peak is not None:
            rate = peak.goodput(slo).rate_per_s
            fig.add_trace(go.Scatter(x=[peak.concurrency], y=[rate], mode="markers+text",
                                     marker={"symbol": "star", "size": 22, "color": GOOD_COLOR},
                                     text=[f"peak · c={peak.concurrency}"], textposition="top center",
                                     textfont={"size": 15, "color": GOOD_COLOR}, showlegend=False),
                          row=1, col=2)
    ticks = sorted({p.concurrency for p in points})
    for col in (1, 2):
        fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(t) for t in ticks],
                         title_text="max_concurrency", row=1, col=col)
    fig.update_yaxes(title_text="seconds", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="calls / second", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=400, margin={"l": 10, "r": 10, "t": 40, "b": 10}, font={"size": 15},
                      legend={"orientation": "h", "y": -0.3, "font": {"size": 14}})
    fig.update_annotations(font_size=16)
    return fig


def load_section(store: JobStore, sweep: SweepInfo, slo: Slo | None) -> None:
    """The sweep's load figures: chart, table, and what was observed or left out."""
    points = load_points(store, sweep)
    if not points:
        return
    if all_failed(points) and sweep.status.finished:
        first = next((t.problem.as_text() for p in points for t in p.run if t.problem), "")
        st.error(
            "Every call of this sweep failed, so there is no latency, throughput or goodput to "
            f"show. The rows are kept (table above). First error: {first}",
            icon=":material/error:",
        )
        return
    st.markdown("**Load per level**")
    if any(p.finished and p.run.wall_s for p in points):
        st.plotly_chart(load_figure(points, slo), width="stretch", key="batch.load_chart")
    st.dataframe(load_frame(points, slo), hide_index=True, width="stretch", key="batch.load_table")
    notes = ["Failed calls are counted and left out of the latency columns; they are not good calls."]
    if all(p.calls < min_samples_for(99) for p in points):
        notes.append(f"p99 needs ≥ {min_samples_for(99)} calls per level, so it is not shown.")
    if any(p.streamed == 0 for p in points):
        notes.append("TTFT is not observed for levels whose rows were invoked whole (no chunks seen).")
    if slo is not None:
        peak = goodput_peak(points, slo)
        notes.append(f"Goodput peaks at max_concurrency {peak.concurrency}." if peak else
                     f"No call met {slo.describe()}: goodput is 0 at every level.")
    st.caption(" ".join(notes))
