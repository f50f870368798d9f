""""Where the time went": one call's trace drawn as a waterfall, with how each part was measured."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from components import theme
from core.call.anatomy import Anatomy, anatomy
from core.call.trace import CallTrace

# One colour per layer that measured a segment; "unattributed" is grey on purpose: it is the
# part nobody's clock can explain, and it should look like it.
LAYER_COLORS = {
    "runner": theme.GREY,
    "langchain": theme.PURPLE,
    "client": theme.STEEL_BLUE,
    "network": theme.TEAL,
    "proxy": theme.AMBER,
    "server": theme.RED,
    "unattributed": theme.PALE_GREY,
}
LAYER_NAMES = {
    "runner": "the runner",
    "langchain": "LangChain",
    "client": "the HTTP client",
    "network": "the network",
    "proxy": "the lab's proxy",
    "server": "the server",
    "unattributed": "not attributed",
}


def _ms(value_ms: float) -> str:
    if value_ms >= 1000:
        return f"{value_ms / 1000:.2f} s"
    if value_ms >= 10:
        return f"{value_ms:.0f} ms"
    return f"{value_ms:.1f} ms"


def waterfall_figure(parts: Anatomy) -> go.Figure:
    """One bar per segment on the call's timeline (ms from its start), coloured by layer."""
    segments = list(parts.segments)
    labels = [f"{s.name}  " for s in segments]
    fig = go.Figure()
    seen: set[str] = set()
    for segment, label in zip(segments, labels, strict=True):
        color = LAYER_COLORS.get(segment.layer, theme.PALE_GREY)
        fig.add_trace(
            go.Bar(
                x=[max(segment.ms, 0.0)], y=[label], base=[segment.start_s * 1000], orientation="h",
                marker={"color": color}, text=[_ms(segment.ms)], textposition="outside",
                textfont={"size": 14}, cliponaxis=False,
                name=LAYER_NAMES.get(segment.layer, segment.layer),
                legendgroup=segment.layer, showlegend=segment.layer not in seen,
                hovertemplate=f"{segment.name}<br>{_ms(segment.ms)} "
                f"(from {segment.start_s * 1000:.1f} to {segment.end_s * 1000:.1f} ms)<extra></extra>",
            )
        )
        seen.add(segment.layer)
    if parts.ttft_s is not None:
        fig.add_vline(x=parts.ttft_s * 1000, line_dash="dot", line_color=theme.NAVY, line_width=2)
        fig.add_annotation(
            x=parts.ttft_s * 1000, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
            text=f"first text · {_ms(parts.ttft_s * 1000)}", font={"size": 15, "color": theme.NAVY},
        )
    fig.update_layout(
        height=max(260, 34 * len(segments) + 110),
        margin={"l": 10, "r": 70, "t": 36, "b": 10},
        barmode="overlay",
        xaxis={"title": "ms since the call began", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "tickfont": {"size": 14}},
        legend={"orientation": "h", "y": -0.18, "font": {"size": 14}, "traceorder": "normal"},
        font={"size": 15},
    )
    return fig


def segment_rows(parts: Anatomy) -> list[dict[str, Any]]:
    """The segments as table rows: what, who measured it, ms, and how."""
    total = parts.total_ms() or 1.0
    return [
        {
            "segment": s.name,
            "measured by": LAYER_NAMES.get(s.layer, s.layer),
            "ms": round(s.ms, 2),
            "share": round(100 * s.ms / total, 1),
            "part of": "time to first text" if s.before_first_text else "after the first text",
            "how it was measured": s.how,
        }
        for s in parts.segments
    ]


def render_waterfall(trace: CallTrace | None, *, key: str, title: str = "Where the time went") -> None:
    """The waterfall of one call, its sums beside the measured figures, and the raw marks."""
    parts = anatomy(trace) if trace is not None else None
    if trace is None or parts is None or not parts.segments:
        st.caption(f"{title}: not measured for this call (no trace was taken).")
        return
    st.markdown(f"#### {title}")
    ttft = parts.ttft_s
    sums = (
        f"Segments before the first text add up to **{_ms(parts.to_first_text_ms())}** — the "
        f"measured time to first token is **{_ms(ttft * 1000)}**. " if ttft is not None else ""
    ) + (
        f"All segments add up to **{_ms(parts.total_ms())}** — the measured total is "
        f"**{_ms(parts.total_s * 1000)}**."
    )
    server = trace.server
    if parts.server_timings and server is not None:
        source = (
            f"Server segments are {server.source} (its own clock); everything else is this lab's "
            "clock at the layer named."
        )
    elif server is not None:
        source = f"The server reported one figure ({server.source}), no prefill/decode split."
    else:
        source = "This endpoint reports no timings of its own, so its share is one segment."
    st.caption(sums + " " + source)
    st.plotly_chart(waterfall_figure(parts), width="stretch", key=f"{key}-waterfall")
    page = _page_note(trace)
    if page:
        st.caption(page)
    with st.expander("How each segment was measured", icon=":material/straighten:"):
        st.dataframe(
            segment_rows(parts), hide_index=True, width="stretch",
            column_config={
                "ms": st.column_config.NumberColumn("ms", format="%.2f"),
                "share": st.column_config.NumberColumn("share", format="%.1f %%"),
                "how it was measured": st.column_config.TextColumn(width="large"),
            },
        )
        st.caption("Every mark, as the layer that saw it stamped it (ms since the call began):")
        st.dataframe(
            [{"layer": layer, "mark": name, "ms": round(at * 1000, 3)} for layer, name, at in trace.marks()],
            hide_index=True, width="stretch",
            column_config={"ms": st.column_config.NumberColumn("ms", format="%.3f")},
        )


def _page_note(trace: CallTrace) -> str:
    """The page's own share around the call, which the call's figures do not include."""
    notes = []
    if trace.page_started is not None and trace.page_started < trace.origin:
        notes.append(f"{_ms((trace.origin - trace.page_started) * 1000)} in the script rerun before the call")
    if trace.shown is not None and trace.finished is not None and trace.shown > trace.finished:
        notes.append(f"{_ms((trace.shown - trace.finished) * 1000)} drawing the last frame after it")
    if not notes:
        return ""
    return (
        "Around the call, on the server: " + " and ".join(notes) + ". The browser's own drawing "
        "is not visible from here (bench/app_paths.py measures it in chromium)."
    )
