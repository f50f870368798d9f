"""The Streaming page's "Measure" section: N runs of the prompt, their distribution and definitions.

The runs happen in a `core.patterns.measure.MeasureJob` on a background thread, kept in this session's
state; the section only polls it (a fragment that reruns itself while the job runs), so a
click elsewhere, a rerun or a visit to another page finds the runs where they were.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import theme
from components.call_kit import call_kit
from components.session_watch import cancel_when_session_ends
from core.call.metric_definitions import DEFINITIONS, TOOLS, Source, definitions_rows
from core.call.models import Endpoint
from core.call.stats import PERCENTILES, Distribution, RunSummary
from core.patterns.measure import (
    MAX_RUNS,
    MAX_WARMUP,
    PERCENTILE_METHOD,
    MeasureInputError,
    MeasureJob,
    MeasureSnapshot,
    check_counts,
    runs_to_csv,
    runs_to_json,
)
from core.security.untrusted import escape_markdown

JOB_KEY = "streaming.measure_job"
POLL_S = 0.5
COLOR = theme.BLUE
P50_COLOR = theme.GREEN
P90_COLOR = theme.ORANGE

# (key, label, unit, scale): ITL, TTFT and TPOT read best in ms, e2e in seconds.
ROWS: tuple[tuple[str, str, str, float], ...] = (
    ("ttft_s", "TTFT", "ms", 1000.0),
    ("itl_s", "ITL (every gap)", "ms", 1000.0),
    ("tpot_s", "TPOT", "ms", 1000.0),
    ("e2e_s", "e2e latency", "s", 1.0),
    ("output_tokens_per_s", "Output tokens/s", "tok/s", 1.0),
)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not reported"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:,.1f}"


def stats_frame(summary: RunSummary) -> pd.DataFrame:
    """One row per metric: n, mean, p50, p90, p99, min, max ("needs ≥ N runs" where too few)."""
    records = []
    for key, label, unit, scale in ROWS:
        d: Distribution = summary.distributions[key]
        scaled = (lambda v, scale=scale: None if v is None else v * scale)  # noqa: E731 - local formatter
        noun = "gaps" if key == "itl_s" else "runs"
        row = {"metric": label, "n": f"{d.count:,}", "mean": _fmt(scaled(d.mean), unit)}
        for p in PERCENTILES:
            q = d.at(p)
            row[f"p{p}"] = _fmt(scaled(q.value), unit) if q.value is not None else (
                f"needs ≥ {q.needs} {noun}" if d.count else "not reported"
            )
        row["min"] = _fmt(scaled(d.min), unit)
        row["max"] = _fmt(scaled(d.max), unit)
        records.append(row)
    return pd.DataFrame(records)


def ecdf_figure(summary: RunSummary) -> go.Figure:
    """ECDFs of TTFT and e2e latency, with p50 and p90 marked where the sample carries them."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("TTFT (ms)", "e2e latency (s)"))
    for col, (key, scale) in enumerate((("ttft_s", 1000.0), ("e2e_s", 1.0)), start=1):
        d = summary.distributions[key]
        xs = sorted(v * scale for v in d.values)
        if not xs:
            continue
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines+markers", line={"shape": "hv", "color": COLOR, "width": 3},
                       marker={"size": 7}, name="share of runs at or below", showlegend=col == 1),
            row=1, col=col,
        )
        for p, color in ((50, P50_COLOR), (90, P90_COLOR)):
            value = d.at(p).value
            if value is not None:
                fig.add_vline(x=value * scale, line_dash="dot", line_color=color, line_width=2, row=1, col=col)
                fig.add_annotation(x=value * scale, y=1.04 if p == 50 else 0.92, xref=f"x{col if col > 1 else ''}",
                                   yref="y domain" if col == 1 else "y2 domain", text=f"p{p}",
                                   showarrow=False, font={"color": color, "size": 15}, xanchor="left")
    fig.update_yaxes(range=[0, 1.08], tickformat=".0%", title_text="runs ≤ x", row=1, col=1)
    fig.update_yaxes(range=[0, 1.08], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10}, font={"size": 15},
                      legend={"orientation": "h", "y": -0.2, "font": {"size": 15}})
    fig.update_annotations(font_size=16)
    return fig


def definitions_table() -> None:
    """How each metric is computed here and in vLLM, GuideLLM, llmperf and AIPerf (cited).

    One tab per tool, each a four-column table (metric, this lab, that tool, where it was
    read): all five side by side do not fit a projector's width.
    """
    st.markdown("**Definitions** — the same name, computed differently by each tool "
                "(read from each tool's source; the commit is in the last column):")
    rows = definitions_rows()
    with st.container(key="measure-definitions"):
        for tab, tool in zip(st.tabs(list(TOOLS)), TOOLS, strict=True):
            with tab:
                first = DEFINITIONS[0].by_tool(tool).source
                st.caption(f"Read in github.com/{first.repo} (file · function @ commit in the last column).")
                # st.table, not st.dataframe: it wraps long definitions instead of cutting them.
                st.table(pd.DataFrame(
                    [{"metric": r["metric"], "this lab": r["this lab"], tool: r[tool],
                      "read in": _short(d.by_tool(tool).source)} for r, d in zip(rows, DEFINITIONS, strict=True)]
                ).set_index("metric"))


def _short(source: Source) -> str:
    return f"{source.path} · {source.symbol} @ {source.commit[:7]}"


def _start(prompt: str, endpoint: Endpoint, runs: int, warmup: int) -> None:
    kit = call_kit("streaming", endpoint)
    llm = kit.model()  # built here, on the script thread, with this session's settings
    job = MeasureJob(
        lambda: llm, prompt, runs=runs, warmup=warmup, config=kit.config,
        secrets=kit.secrets, endpoint=endpoint.label, model=endpoint.model,
    )
    previous = st.session_state.get(JOB_KEY)
    if isinstance(previous, MeasureJob) and previous.running:
        previous.cancel()
    job.start()
    # Foreground work: only this session shows it, so it stops once the session has ended.
    cancel_when_session_ends(job.cancel, lambda: not job.running)
    st.session_state[JOB_KEY] = job


def measure_section(prompt: str, endpoint_or_stop: Callable[[], Endpoint]) -> None:
    """Controls, live progress and the results of repeated runs of `prompt`."""
    st.subheader("Measure: the same call N times")
    st.markdown(
        "One streamed answer is an anecdote. Run the prompt *N* times, one after another, after "
        "a few warm-up runs that are thrown away, and read the distribution: the median (p50), "
        "the slow tail (p90, p99) and the extremes."
    )
    job = st.session_state.get(JOB_KEY)
    running = isinstance(job, MeasureJob) and job.running
    left, mid, right = st.columns([1, 1, 1.4])
    runs = left.number_input("N (measured runs)", min_value=0, max_value=MAX_RUNS, value=30, step=1,
                             key="streaming.measure_runs",
                             help="p50 needs ≥ 2 runs, p90 ≥ 10, p99 ≥ 100.")
    warmup = mid.number_input("Warm-up runs (discarded)", min_value=0, max_value=MAX_WARMUP, value=1,
                              step=1, key="streaming.measure_warmup")
    right.write("")
    clicked = right.button(f"Measure {int(runs or 0)} runs", icon=":material/speed:",
                           key="streaming.measure_run", disabled=running, width="stretch")
    if clicked:
        try:
            n, w = check_counts(runs, warmup)
            if not prompt.strip():
                raise MeasureInputError("Type a prompt first, or pick an example above.")
        except MeasureInputError as exc:
            st.warning(str(exc), icon=":material/warning:")
        else:
            _start(prompt, endpoint_or_stop(), n, w)
            st.rerun()  # redraw with the button disabled and the progress polling
    if isinstance(st.session_state.get(JOB_KEY), MeasureJob):
        measure_panel(running)


@st.fragment(run_every=POLL_S)
def _polling_panel() -> None:
    job: MeasureJob = st.session_state[JOB_KEY]
    snapshot = job.snapshot()
    if snapshot.phase.finished:
        st.rerun()  # draw the finished runs once, with charts and downloads, and stop polling
    _progress(snapshot, job)
    if snapshot.done:
        st.table(stats_frame(snapshot.summary()).set_index("metric"))


def measure_panel(running: bool) -> None:
    if running:
        _polling_panel()
        return
    job: MeasureJob = st.session_state[JOB_KEY]
    snapshot = job.snapshot()
    with st.container(border=True, key="measure-results"):
        _progress(snapshot, job)
        show_results(snapshot, job.secrets)


def _progress(snapshot: MeasureSnapshot, job: MeasureJob) -> None:
    if snapshot.phase.finished:
        text = (f"{snapshot.done} of {snapshot.runs} runs measured · {snapshot.warmup_done} warm-up "
                f"discarded · **{snapshot.phase.value}** · {escape_markdown(snapshot.endpoint)}")
        st.markdown(text)
        return
    if snapshot.warmup_done < snapshot.warmup:
        text = f"Warm-up {snapshot.warmup_done + 1} of {snapshot.warmup} (discarded)…"
    else:
        text = f"Run {min(snapshot.done + 1, snapshot.runs)} of {snapshot.runs}…"
    st.progress(snapshot.progress, text=text)
    if st.button("Stop", icon=":material/stop:", key="streaming.measure_stop",
                 help="Stops after the call in flight; the runs so far are kept."):
        job.cancel()


def show_results(snapshot: MeasureSnapshot, secrets: tuple[str, ...]) -> None:
    """The stats table, the ECDF chart, failures and token source, downloads, definitions."""
    if snapshot.problem:
        st.error(f"The measuring stopped: {escape_markdown(snapshot.problem)}. The runs before it are kept.",
                 icon=":material/error:")
    if not snapshot.records:
        st.info("No run finished yet.")
        definitions_table()
        return
    summary = snapshot.summary()
    if summary.failed:
        st.warning(
            f"{summary.failed} of {summary.calls} calls failed: counted here, left out of every "
            "latency figure (a timeout is not a latency). " + _first_error(snapshot),
            icon=":material/warning:",
        )
    if summary.succeeded:
        with st.container(key="measure-stats"):
            st.table(stats_frame(summary).set_index("metric"))
        st.caption(
            f"{summary.succeeded} successful runs · percentiles: {PERCENTILE_METHOD} · TPOT and "
            f"tokens/s use {summary.token_note}. ITL pools every gap of every run."
        )
        st.plotly_chart(ecdf_figure(summary), width="stretch", key="measure.chart")
    buttons = st.container(horizontal=True)
    buttons.download_button("Runs as CSV", runs_to_csv(snapshot.records, *secrets),
                            file_name="measure-runs.csv", mime="text/csv", icon=":material/download:",
                            on_click="ignore", key="measure.csv")
    buttons.download_button("Runs as JSON", runs_to_json(snapshot, *secrets), file_name="measure-runs.json",
                            mime="application/json", icon=":material/download:", on_click="ignore",
                            key="measure.json",
                            help="One row per call with its chunk times and metrics, the summary, the "
                            "definitions and the endpoint (no key).")
    definitions_table()


def _first_error(snapshot: MeasureSnapshot) -> str:
    errors = [t.problem.as_text() for t in snapshot.run if t.problem]
    return f"First error: {errors[0]}" if errors else ""
