"""Rendering for the Async page: the shared-clock timeline, per-mode numbers, live streams."""

from __future__ import annotations

import time
from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import theme
from components.display import fmt_seconds, show_problem
from core.patterns.concurrency import ModeRun

WAIT_COLOR = theme.ORANGE  # in flight, nothing to show yet (same orange as "invoke" on Streaming)
STREAM_COLOR = theme.BLUE  # tokens arriving (same blue as "stream" on Streaming)
ARRIVE_COLOR = theme.INK
FAIL_COLOR = theme.RED
ROW_PX = 26
LIVE_REFRESH_S = 0.1  # per stream: often enough to watch, rarely enough not to slow the model


def _row_label(index: int, prompt: str, width: int = 22) -> str:
    text = prompt if len(prompt) <= width else prompt[: width - 1] + "…"
    return f"{index + 1}. {text}"


def mode_title(run: ModeRun) -> str:
    """The mode's call pattern with its real numbers: 'abatch(max_concurrency=2)'."""
    label = run.mode.label
    if run.max_concurrency is not None:
        label = label.replace("max_concurrency=n", f"max_concurrency={run.max_concurrency}")
    return label.replace("× n", f"× {len(run.calls)}")


def modes_timeline_figure(runs: Sequence[ModeRun]) -> go.Figure:
    """One row per call, one panel per mode, all on the same seconds-since-start axis.

    A call's bar starts when LangChain started it and ends when its answer was complete.
    Orange: in flight with nothing to show yet. Blue: tokens arriving (streaming only; the
    ticks are the tokens). A dark diamond: a whole answer landing at once (invoke / ainvoke /
    abatch). Red: the call failed.
    """
    panels_px = sum(len(r.calls) * ROW_PX for r in runs)
    gap_px = 70  # room for a panel's tick labels and the next panel's title
    height = panels_px + gap_px * (len(runs) - 1) + 150
    fig = make_subplots(
        rows=len(runs),
        cols=1,
        shared_xaxes=True,
        # A fraction of the plotting area (height minus the 120 px of margins).
        vertical_spacing=gap_px / (height - 120) if len(runs) > 1 else 0.0,
        row_heights=[len(r.calls) + 0.6 for r in runs],
        subplot_titles=[
            f"{mode_title(r)} — wall {fmt_seconds(r.wall_s)}" for r in runs
        ],
    )
    shown: set[str] = set()

    def legend(name: str) -> dict[str, object]:
        first = name not in shown
        shown.add(name)
        return {"name": name, "legendgroup": name, "showlegend": first}

    for row, run in enumerate(runs, start=1):
        labels = [_row_label(c.index, c.prompt) for c in run.calls]
        for call, label in zip(run.calls, labels, strict=True):
            if call.start_s is None or call.end_s is None:
                continue
            hover = (
                f"{call.prompt}<br>start {call.start_s:.2f} s · end {call.end_s:.2f} s"
                f"<br>latency {fmt_seconds(call.trace.e2e_s if call.trace else None)}"
            )
            if call.error is not None:
                fig.add_bar(
                    x=[max(call.end_s - call.start_s, 0.005)], y=[label], base=[call.start_s],
                    orientation="h", marker_color=FAIL_COLOR, hovertext=hover + f"<br>{call.error.title}",
                    hoverinfo="text", row=row, col=1, **legend("failed"),
                )
                continue
            first_text = call.first_text_s
            waited_until = first_text if first_text is not None else call.end_s
            fig.add_bar(
                x=[waited_until - call.start_s], y=[label], base=[call.start_s], orientation="h",
                marker_color=WAIT_COLOR, hovertext=hover, hoverinfo="text", row=row, col=1,
                **legend("in flight, nothing to show yet"),
            )
            if first_text is not None:
                fig.add_bar(
                    x=[call.end_s - first_text], y=[label], base=[first_text],
                    orientation="h", marker_color=STREAM_COLOR, row=row, col=1,
                    hovertext=hover + f"<br>first token {first_text:.2f} s", hoverinfo="text",
                    **legend("tokens arriving (streaming)"),
                )
                fig.add_scatter(
                    x=call.text_times_s, y=[label] * len(call.text_times_s), mode="markers",
                    marker={"symbol": "line-ns-open", "size": 12, "color": "white", "line": {"width": 1}},
                    hoverinfo="skip", showlegend=False, row=row, col=1,
                )
            else:
                fig.add_scatter(
                    x=[call.end_s], y=[label], mode="markers",
                    marker={"symbol": "diamond", "size": 13, "color": ARRIVE_COLOR},
                    hovertext=hover, hoverinfo="text", row=row, col=1,
                    **legend("whole answer arrives"),
                )
        fig.update_yaxes(
            categoryorder="array", categoryarray=labels, autorange="reversed", row=row, col=1
        )
    fig.update_xaxes(title_text="seconds since the mode started", row=len(runs), col=1)
    # Tick labels under every panel: on a projector nobody scrolls down to read the axis.
    fig.update_xaxes(rangemode="tozero", showgrid=True, showticklabels=True, tickfont_size=14)
    fig.update_yaxes(tickfont_size=14)
    fig.update_layout(
        barmode="overlay",
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 90},
        # Below the x axis, clear of the panel titles (which sit above each panel).
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0,
                "font": {"size": 14}},
        font={"size": 15},
        bargap=0.25,
    )
    fig.update_annotations(font_size=15, xanchor="left", x=0)  # the panel titles
    return fig


def mode_summary(run: ModeRun, baseline: ModeRun | None) -> None:
    """The numbers beside a mode's panel: wall time, speed-up, sum of latencies, overlap."""
    ratio = run.speedup_over(baseline)
    if run.mode.value == "sequential":
        compare = "the baseline"
    elif ratio is None:
        compare = "run **Sequential** (same questions) for a speed-up"
    else:
        compare = (
            f"**{ratio:.1f}×** faster than sequential"
            if ratio >= 1
            else f"slower than sequential (**{ratio:.1f}×** its speed)"
        )
    failed = f" · {mode_outcome(run)}" if run.failures else ""
    with st.container(border=True, key=f"async-summary-{run.mode.value}"):
        # A zero-width space after "(" lets a long call wrap there in a narrow column.
        title = mode_title(run).replace("(", "(\u200b")
        st.markdown(f"**{title}**  \nwall **{fmt_seconds(run.wall_s)}** · {compare}{failed}")
        st.caption(
            f"Σ call latencies {fmt_seconds(run.run.sum_e2e_s)} · average call "
            f"{fmt_seconds(run.run.mean_e2e_s)} · up to {run.peak_in_flight} in flight"
        )


def mode_outcome(run: ModeRun) -> str:
    """'**finished with failures** (2 of 5 calls failed)', or '**failed** (all 3 calls failed)'."""
    n_failed, n_calls = len(run.failures), len(run.calls)
    label = run.run.outcome_label
    if label == "failed":
        return f"**failed** (all {n_calls} call{'s' if n_calls != 1 else ''} failed)"
    return f"**{label}** ({n_failed} of {n_calls} calls failed)"


def failures_panel(runs: Sequence[ModeRun]) -> None:
    """Per mode with failed calls: one line grouped by cause, then each call's own message."""
    for run in runs:
        if not run.failures:
            continue
        st.error(f"**{mode_title(run)}**: " + run.run.failure_line("call"), icon=":material/error:")
        with st.expander(f"{mode_title(run)}: each failed call", icon=":material/list:"):
            for call in run.failures:
                assert call.error is not None
                show_problem(
                    call.error,
                    what_was_kept=f"Question {call.index + 1} ({call.prompt!r}). The other answers are kept.",
                )


def progress_line(run: ModeRun, elapsed_s: float) -> str:
    """'gather · 2 of 5 done · 3 in flight · 0.41 s' while a mode runs."""
    done = sum(c.finished for c in run.calls)
    in_flight = sum(c.start_s is not None and not c.finished for c in run.calls)
    return (
        f"**{mode_title(run)}** · {done} of {len(run.calls)} answers back · "
        f"{in_flight} in flight · {elapsed_s:.2f} s"
    )


class LiveStreams:
    """Side-by-side boxes, one per question, that fill as their streams' tokens arrive.

    `on_chunk` is called by the async runner on the event loop, which `asyncio.run` drives on
    the Streamlit script thread, so updating the boxes from it is allowed.
    """

    def __init__(
        self, prompts: Sequence[str], *, key_prefix: str, per_row: int = 5, height: int = 170
    ) -> None:
        self.texts = ["" for _ in prompts]
        self._last = [0.0 for _ in prompts]
        self.slots = []
        for start in range(0, len(prompts), per_row):
            cols = st.columns(per_row)
            for col, i in zip(cols, range(start, min(start + per_row, len(prompts))), strict=False):
                with col:
                    st.caption(_row_label(i, prompts[i], width=40))
                    with st.container(height=height, border=True, key=f"async-{key_prefix}-stream-{i}"):
                        self.slots.append(st.empty())

    def on_chunk(self, index: int, text: str) -> None:
        self.texts[index] += text
        now = time.perf_counter()
        if now - self._last[index] >= LIVE_REFRESH_S:
            self._last[index] = now
            self.slots[index].text(self.texts[index])

    def show(self, texts: Sequence[str]) -> None:
        for slot, text in zip(self.slots, texts, strict=False):
            slot.text(text or "—")
