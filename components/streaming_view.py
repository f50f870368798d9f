"""Rendering for the Streaming page: live metric strip and the stream-vs-wait chart."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from components import theme
from components.display import fmt_optional, fmt_seconds
from core.patterns.streaming import InvokeRecord, StreamRecord, text_over_time

STREAM_COLOR = theme.BLUE
WAIT_COLOR = theme.ORANGE


def stream_metrics(record: StreamRecord, *, running: bool = False) -> None:
    """Time to first token, tokens/s, total time, chunks and usage, as one metric strip."""
    usage = record.usage
    cols = st.columns(5)
    cols[0].metric("Time to first token", fmt_seconds(record.trace.ttft_s))
    tps = record.trace.output_tokens_per_s
    cols[1].metric("Tokens / second", "—" if tps is None else f"{tps:.0f}" if tps >= 10 else f"{tps:.1f}")
    cols[2].metric("Total time", "…" if running else fmt_seconds(record.trace.e2e_s))
    cols[3].metric("Chunks", f"{record.chunk_count:,}")
    if usage is not None:
        cols[4].metric(
            "Tokens in / out",
            f"{usage.input_tokens:,} / {usage.output_tokens:,}",
            help=f"Total {usage.total_tokens:,}, from the final usage chunk (stream_usage=True).",
        )
    else:
        cols[4].metric(
            "Tokens in / out",
            "…" if running else "not reported",
            help="Usage arrives in the last chunk; some endpoints ignore stream_options and send none.",
        )


def stream_vs_wait_figure(waited: InvokeRecord, streamed: StreamRecord) -> go.Figure:
    """Characters visible over time for `invoke` (a step at the end) and `stream` (a ramp)."""
    fig = go.Figure()
    for record, name, color in (
        (streamed, "stream(): words appear as generated", STREAM_COLOR),
        (waited, "invoke(): nothing until the end", WAIT_COLOR),
    ):
        points = text_over_time(record)
        fig.add_trace(
            go.Scatter(
                x=[t for t, _ in points],
                y=[c for _, c in points],
                mode="lines",
                name=name,
                line={"color": color, "width": 4},
            )
        )
    first = streamed.trace.ttft_s
    if first is not None:
        fig.add_vline(x=first, line_dash="dot", line_color=STREAM_COLOR)
        fig.add_annotation(
            x=first, y=1, yref="paper", text=f"first word · {fmt_seconds(first)}",
            showarrow=False, xanchor="left", font={"color": STREAM_COLOR, "size": 16},
        )
    waited_s = waited.trace.e2e_s
    if waited_s is not None:
        fig.add_annotation(
            x=waited_s, y=0.9, yref="paper", text=f"invoke returns · {fmt_seconds(waited_s)}",
            showarrow=False, xanchor="right", font={"color": WAIT_COLOR, "size": 16},
        )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="seconds since the request",
        yaxis_title="characters on screen",
        legend={"orientation": "h", "y": -0.25, "font": {"size": 15}},
        font={"size": 15},
    )
    return fig


def usage_line(record: StreamRecord | InvokeRecord) -> str:
    """One line of receipt: model, finish reason and tokens."""
    usage = record.usage
    tokens = (
        f"{usage.input_tokens:,} in · {usage.output_tokens:,} out" if usage else "usage not reported"
    )
    return (
        f"model `{record.model_name or '?'}` · finish reason `{record.finish_reason or 'none'}` · "
        f"{tokens} · {fmt_optional(record.trace.e2e_s, '{:.2f} s')}"
    )


def first_word_metrics(first_word_s: float | None, complete_s: float | None) -> None:
    """The two numbers of the race: when the first word showed, and when the answer was complete."""
    left, right = st.columns(2)
    left.metric("First word on screen", fmt_seconds(first_word_s) if first_word_s is not None else "…")
    right.metric("Answer complete", fmt_seconds(complete_s) if complete_s is not None else "…")
