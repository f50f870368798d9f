"""Rendering for the Streaming events page: live log, counts, filters, raw JSON and the timeline."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import theme
from components.display import fmt_seconds
from core.patterns.events import EventFilter, EventRecorder, RecordedEvent, RunSpan, short_id

RUN_COLORS = {
    "chain": theme.LIGHT_GREY,
    "prompt": theme.PURPLE,
    "chat_model": theme.BLUE,
    "llm": theme.BLUE,
    "parser": theme.GREEN,
    "tool": theme.ORANGE,
}
FAILED_COLOR = theme.RED
TICK_COLOR = theme.INK
CUSTOM_COLOR = theme.PINK
TABLE_HEIGHT = 380

COLUMNS = {
    "#": st.column_config.NumberColumn("#", width=44, help="Order received"),
    "ms": st.column_config.NumberColumn(
        "ms", format="%.1f", width=70, help="Milliseconds since the run began, stamped on receipt"
    ),
    "event": st.column_config.TextColumn("event", width=172),
    "name": st.column_config.TextColumn("name", width=150),
    "run": st.column_config.TextColumn("run", width=66, help="Last 6 characters of the run id"),
    "parent": st.column_config.TextColumn(
        "parent", width=66, help="The parent run (last entry of parent_ids); — for the root"
    ),
    "summary": st.column_config.TextColumn(
        "summary", width="large", help="What went in, the chunk, or what came out"
    ),
}


def run_metrics(recorder: EventRecorder, *, running: bool = False) -> None:
    """Events recorded, runs, time, first chunk and chunks, as one metric strip."""
    counts = recorder.counts()
    cols = st.columns(5)
    cols[0].metric(
        "Events recorded", f"{len(recorder.events):,}",
        help="Every event the iterator produced; none are dropped, whatever the screen shows.",
    )
    cols[1].metric("Runs", f"{sum(n for e, n in counts.items() if e.endswith('_start')):,}",
                   help="Runnables that started: the chain, its steps, model and tool calls.")
    elapsed = recorder.elapsed_s() if running else recorder.total_s
    cols[2].metric("Elapsed" if running else "Total time", fmt_seconds(elapsed))
    cols[3].metric("First model chunk", fmt_seconds(recorder.first_chunk_s),
                   help="When the first on_chat_model_stream event with text was received.")
    cols[4].metric("Model stream chunks", f"{counts.get('on_chat_model_stream', 0):,}")


def progress_bar(recorder: EventRecorder) -> None:
    """A progress bar driven by the chain's own custom `progress` events, when it sends them."""
    progress = recorder.progress()
    if progress is not None:
        done, total, label = progress
        st.progress(min(1.0, done / max(total, 1)), text=f"{done}/{total} · {label} (from on_custom_event)")


def live_view(recorder: EventRecorder, redraw: int) -> None:
    """What the page shows while the chain runs: metrics, progress, and the log, newest first.

    `redraw` numbers the redraws: keys must be unique within a script run, and browser tests
    find the live log by its key prefix (`st-key-events-live-`).
    """
    run_metrics(recorder, running=True)
    progress_bar(recorder)
    with st.container(key=f"events-live-{redraw}"):
        st.caption(f"Live: {len(recorder.events):,} events so far, newest first.")
        st.dataframe(
            pd.DataFrame(recorder.table_rows()[::-1], columns=list(COLUMNS)),
            hide_index=True, height=TABLE_HEIGHT, column_config=COLUMNS,
        )


def events_table(recorder: EventRecorder, events: list[RecordedEvent]) -> None:
    """The log in the order received."""
    st.dataframe(
        pd.DataFrame(recorder.table_rows(events), columns=list(COLUMNS)),
        hide_index=True, height=TABLE_HEIGHT, column_config=COLUMNS, key="events.table",
    )


def counts_table(counts: dict[str, int]) -> None:
    """Events per type, with their total (which equals the events recorded)."""
    frame = pd.DataFrame({"event": list(counts), "count": list(counts.values())})
    st.dataframe(
        frame, hide_index=True, key="events.counts",
        column_config={
            "event": st.column_config.TextColumn("event type", width=200),
            "count": st.column_config.NumberColumn("count", format="%d", width=80),
        },
    )


def filter_controls(recorder: EventRecorder) -> EventFilter:
    """Include/exclude selections by run type and by name, mirroring `astream_events` options."""
    types = list(dict.fromkeys(e.run_type for e in recorder.events))
    names = list(dict.fromkeys(e.name for e in recorder.events))
    cols = st.columns(4)
    chosen = EventFilter.from_choices(
        include_types=cols[0].multiselect(
            "Only types", types, key="events.f.include_types", placeholder="all",
            help="include_types: run types (chain, prompt, chat_model, parser, tool); a custom "
            "event's type is its own name.",
        ),
        exclude_types=cols[1].multiselect(
            "Hide types", types, key="events.f.exclude_types", placeholder="none",
            help="exclude_types",
        ),
        include_names=cols[2].multiselect(
            "Only names", names, key="events.f.include_names", placeholder="all",
            help="include_names: with both 'only' options set, an event matching either is kept.",
        ),
        exclude_names=cols[3].multiselect(
            "Hide names", names, key="events.f.exclude_names", placeholder="none",
            help="exclude_names",
        ),
    )
    return chosen


def api_call_line(chosen: EventFilter) -> str:
    """The `astream_events` call that would produce only these events."""
    options = "".join(f", {name}={value!r}" for name, value in chosen.api_kwargs().items())
    return f'chain.astream_events(inputs, version="v2"{options})'


def raw_event(recorder: EventRecorder) -> None:
    """The JSON of one event, chosen by its number."""
    if not recorder.events:
        return
    last = len(recorder.events) - 1
    index = st.number_input(
        "Event #", min_value=0, max_value=last, value=min(3, last), step=1, key="events.raw_index",
        help="The number in the log's # column.",
    )
    st.json(recorder.events[int(index)].to_dict(*recorder.secrets), expanded=2)


def events_timeline_figure(
    spans: list[RunSpan],
    *,
    until_s: float | None,
    error_at_s: float | None = None,
    error_step: str | None = None,
) -> go.Figure:
    """A trace waterfall: one bar per run, nested under its parent, stream chunks as ticks."""
    total_ms = max((until_s or 0) * 1000, 1.0)
    min_width_ms = total_ms * 0.006  # instant steps (prompt formatting) still get a visible sliver
    labels = [
        "\u00a0\u00a0\u00a0" * s.depth + ("└ " if s.depth else "") + f"{s.name} ·{short_id(s.run_id)}"
        for s in spans
    ]
    fig = go.Figure()
    groups: dict[str, list[int]] = {}
    for i, span in enumerate(spans):
        key = "failed / unfinished" if span.failed or not span.finished else span.run_type
        groups.setdefault(key, []).append(i)
    for key, rows in groups.items():
        broken = key == "failed / unfinished"
        durations = [spans[i].duration_s(until_s) * 1000 for i in rows]
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=rows,
                base=[spans[i].start_s * 1000 for i in rows],
                x=[max(d, min_width_ms) for d in durations],
                name=key,
                width=0.72,  # explicit: plotly would size bars by the gap between a trace's rows
                marker={
                    "color": FAILED_COLOR if broken else RUN_COLORS.get(key, theme.GREY),
                    "pattern": {"shape": "/" if broken else ""},
                },
                customdata=[
                    [labels[i].strip("\u00a0└ "), spans[i].run_type, d, len(spans[i].ticks_s)]
                    for i, d in zip(rows, durations, strict=True)
                ],
                hovertemplate="%{customdata[0]} (%{customdata[1]})<br>starts %{base:.1f} ms · "
                "lasts %{customdata[2]:.1f} ms · %{customdata[3]} chunks<extra></extra>",
            )
        )
    tick_x = [t * 1000 for s in spans for t in s.ticks_s]
    tick_y = [i for i, s in enumerate(spans) for _ in s.ticks_s]
    if tick_x:
        fig.add_trace(
            go.Scatter(
                x=tick_x, y=tick_y, mode="markers", name="stream chunk",
                marker={"symbol": "line-ns-open", "size": 14, "color": TICK_COLOR,
                        "line": {"width": 2, "color": TICK_COLOR}},
                hovertemplate="chunk at %{x:.1f} ms<extra></extra>",
            )
        )
    custom = [(t * 1000, i, name) for i, s in enumerate(spans) for t, name in s.custom]
    if custom:
        fig.add_trace(
            go.Scatter(
                x=[c[0] for c in custom], y=[c[1] for c in custom], mode="markers",
                name="custom event", text=[c[2] for c in custom],
                marker={"symbol": "diamond", "size": 14, "color": CUSTOM_COLOR,
                        "line": {"width": 1, "color": "white"}},
                hovertemplate="%{text} at %{x:.1f} ms<extra></extra>",
            )
        )
    if error_at_s is not None:
        fig.add_vline(x=error_at_s * 1000, line_dash="dot", line_color=FAILED_COLOR, line_width=2)
        fig.add_annotation(
            x=error_at_s * 1000, y=1, yref="paper", showarrow=False, xanchor="right",
            text=f"error in {error_step or 'the chain'}", font={"color": FAILED_COLOR, "size": 15},
        )
    fig.update_layout(
        barmode="overlay",
        height=max(280, 130 + 34 * len(spans)),
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        font={"size": 15},
        xaxis={"title": "milliseconds since the run began", "rangemode": "tozero"},
        yaxis={
            "tickvals": list(range(len(spans))),
            "ticktext": labels,
            "autorange": "reversed",
            "tickfont": {"size": 14, "family": "monospace"},
        },
        # Top left of the whole figure: clear of the tick labels and of plotly's toolbar.
        legend={"orientation": "h", "x": 0, "xref": "container", "y": 1, "yref": "container",
                "yanchor": "top", "font": {"size": 14}},
        hoverlabel={"font": {"size": 14}},
    )
    return fig


def error_notice(recorder: EventRecorder) -> str | None:
    """The sentence under an error: where it came from and what was kept."""
    if recorder.error is None:
        return None
    where = f"Raised in **{recorder.error_step}**" if recorder.error_step else "Raised before any step started"
    when = fmt_seconds(recorder.error_at_s)
    return (
        f"{where} after {when}. The {len(recorder.events):,} events received before it are kept "
        "below, and the failing step is marked on the timeline."
    )
