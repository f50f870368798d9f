"""Rendering for the Metadata & cost page: receipts, the ledger's totals, table and charts."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import streamlit as st

from components import theme
from components.prices import current_price_table
from components.runtime import ledger
from components.trace_view import render_waterfall
from core.money.costs import (
    LEDGER_COLUMNS,
    CostedCall,
    SessionTotals,
    cost_by_model,
    cost_calls,
    cumulative_cost,
    ledger_rows,
    session_totals,
    tokens_by_pattern,
)
from core.money.pricing import call_cost, format_usd
from core.money.receipt import finish_reason_meaning, raw_receipt, receipt_lines
from core.security.untrusted import code_span

if TYPE_CHECKING:  # pandas, plotly and openai load where they are used, not on every page
    import pandas as pd
    import plotly.graph_objects as go

    from core.patterns.streaming import CallTiming

FONT = {"size": 15}
INPUT_COLOR = theme.BLUE
OUTPUT_COLOR = theme.ORANGE
COST_COLOR = theme.GREEN


def priced_ledger() -> list[CostedCall]:
    """Every call of this browser session, priced with the session's (edited) price table."""
    return cost_calls(ledger().records(), current_price_table())


def session_total_line() -> None:
    """The compact sidebar line: calls, tokens and spend so far in this session."""
    totals = session_totals(priced_ledger())
    st.caption(f":material/receipt_long: Session: {totals.summary()}")


def totals_strip(totals: SessionTotals, *, key: str | None = None) -> None:
    """Calls, usage coverage, tokens and cost as one metric strip (`key` finds it in tests)."""
    with st.container(key=key):
        cols = st.columns(5)
        cols[0].metric("Calls", f"{totals.calls:,}",
                       help="Every call made on every page in this browser session"
                       + (f"; {totals.errors} failed." if totals.errors else "."))
        cols[1].metric(
            "Usage reported", f"{totals.usage_reported:,} of {totals.calls - totals.errors:,}",
            help="Calls without usage are left out of the token and cost totals, not counted as zero.",
        )
        cols[2].metric("Input tokens", f"{totals.input_tokens:,}",
                       help=f"{totals.cached_input_tokens:,} of them cached.")
        cols[3].metric("Output tokens", f"{totals.output_tokens:,}",
                       help=f"{totals.reasoning_tokens:,} of them reasoning.")
        if totals.usage_reported == 0:
            cost = "—" if totals.calls == 0 else "unknown"
        elif totals.priced_calls == 0:
            cost = "no price"
        else:
            cost = format_usd(totals.cost_usd) + ("" if totals.cost_complete else "+")
        cols[4].metric(
            "Session cost", cost,
            help="Sum over calls with usage and a price; '+' means some calls' cost is unknown.",
        )


def coverage_notes(totals: SessionTotals) -> None:
    """Say plainly which calls the totals leave out, and why."""
    if totals.streamed_without_usage:
        st.warning(
            f"{totals.streamed_without_usage} streamed call(s) came back without usage. Streams "
            "only report tokens in a final chunk when the model has `stream_usage=True` and the "
            "endpoint honours `stream_options` (some OpenAI-compatible servers ignore it). Their "
            "tokens and cost are unknown, so they are left out of the totals.",
            icon=":material/warning:",
        )
    other_missing = totals.usage_missing - totals.streamed_without_usage
    if other_missing:
        st.warning(
            f"{other_missing} call(s) reported no usage: left out of the totals, not counted as zero.",
            icon=":material/warning:",
        )
    if totals.unpriced_calls:
        models = ", ".join(f"`{m}`" for m in totals.unpriced_models)
        st.info(
            f"{totals.unpriced_calls} call(s) used a model with no price ({models}): their tokens "
            "are counted, their cost is not. Add the model to the price table to include it.",
            icon=":material/sell:",
        )


NUMBER_COLUMNS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "total_tokens")


def ledger_frame(costed: list[CostedCall]) -> pd.DataFrame:
    """The ledger as the table shows it: tokens, cost and latency as numbers (a header click
    sorts them as numbers, unknown ones empty, never 0); why a cost is unknown in `note`."""
    import pandas as pd

    rows = ledger_rows(costed)
    frame = pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))
    for column in NUMBER_COLUMNS:
        frame[column] = pd.array([r[column] for r in rows], dtype="Int64")
    frame["latency_s"] = pd.array([r["latency_s"] for r in rows], dtype="Float64")
    frame["note"] = ["" if r["cost_usd"] is not None else r["cost"] for r in rows]
    frame["cost"] = pd.array([r["cost_usd"] for r in rows], dtype="Float64")
    order = ["time", "pattern", "model", "usage", "cost", "note", *NUMBER_COLUMNS,
             "latency_s", "finish_reason", "provider", "streamed", "error"]
    return frame[order]


def ledger_table(costed: list[CostedCall]) -> None:
    frame = ledger_frame(costed)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(frame), 320),
        key="metadata.ledger_table",
        column_config={
            "usage": st.column_config.TextColumn("usage"),
            "cost": st.column_config.NumberColumn(
                "cost", format="$%.6f", width=100,
                help="US dollars at the session's prices; empty when unknown (see note), never $0."),
            "note": st.column_config.TextColumn(
                "note", width=110, help="Why a cost is unknown: not reported, no price, failed."),
            "latency_s": st.column_config.NumberColumn("latency", format="%.2f s"),
            "input_tokens": st.column_config.NumberColumn("in", format="%d"),
            "cached_input_tokens": st.column_config.NumberColumn("cached", format="%d"),
            "output_tokens": st.column_config.NumberColumn("out", format="%d"),
            "reasoning_tokens": st.column_config.NumberColumn("reasoning", format="%d"),
            "total_tokens": st.column_config.NumberColumn("total", format="%d"),
        },
    )


def _usd_axis(fig: go.Figure, values: list[float], title: str) -> None:
    # Plain dollars with enough decimals for per-call costs (plotly's SI ticks would say "150µ").
    top = max(values, default=0.0)
    tickformat = ",.2f" if top == 0 or top >= 1 else ",.4f" if top >= 0.01 else ",.6f"
    fig.update_yaxes(title_text=title, tickprefix="$", tickformat=tickformat, rangemode="tozero")


def _layout(fig: go.Figure, title: str, height: int = 300) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 17}},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        font=FONT,
        legend={"orientation": "h", "y": -0.25, "font": FONT},
    )
    return fig


def cumulative_cost_figure(costed: list[CostedCall]) -> go.Figure:
    import plotly.graph_objects as go

    points = cumulative_cost(costed)
    fig = go.Figure(
        go.Scatter(
            x=[dt.datetime.fromtimestamp(t) for t, _ in points],
            y=[usd for _, usd in points],
            mode="lines+markers",
            line={"shape": "hv", "color": COST_COLOR, "width": 4},
            marker={"size": 9},
            name="cumulative cost",
            hovertemplate="%{x|%H:%M:%S}<br>$%{y:,.6f}<extra></extra>",
        )
    )
    _usd_axis(fig, [usd for _, usd in points], "USD so far")
    fig.update_xaxes(title_text="time the call finished", tickformat="%H:%M:%S")
    return _layout(fig, "Cumulative cost over time")


def tokens_by_pattern_figure(costed: list[CostedCall]) -> go.Figure:
    import plotly.graph_objects as go

    by_pattern = tokens_by_pattern(costed)
    patterns = list(by_pattern)
    fig = go.Figure(
        [
            go.Bar(name="input tokens", x=patterns, y=[by_pattern[p]["input"] for p in patterns],
                   marker_color=INPUT_COLOR),
            go.Bar(name="output tokens", x=patterns, y=[by_pattern[p]["output"] for p in patterns],
                   marker_color=OUTPUT_COLOR),
        ]
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="tokens")
    return _layout(fig, "Tokens by pattern")


def cost_by_model_figure(costed: list[CostedCall]) -> go.Figure:
    import plotly.graph_objects as go

    by_model = cost_by_model(costed)
    models = list(by_model)
    fig = go.Figure(
        go.Bar(
            x=models,
            y=[by_model[m] or 0 for m in models],
            text=[format_usd(by_model[m]) for m in models],  # "no price" for unpriced models
            textposition="outside",
            marker_color=[COST_COLOR if by_model[m] is not None else theme.NO_DATA_GREY for m in models],
            hovertemplate="%{x}: %{text}<extra></extra>",
        )
    )
    _usd_axis(fig, [v or 0.0 for v in by_model.values()], "USD")
    return _layout(fig, "Cost by model")


def ledger_charts(costed: list[CostedCall], totals: SessionTotals) -> None:
    if totals.usage_reported == 0:
        st.caption("Charts appear once a call has reported usage.")
        return
    if totals.priced_calls and totals.cost_usd == 0:
        st.caption(
            "Every priced call so far ran on a $0 model (the embedded one runs on this machine). "
            "To see what the same tokens would cost on a paid model, give SmolLM2-135M-Instruct a "
            "price in the **Price table** tab — the ledger re-prices at once."
        )
    st.plotly_chart(cumulative_cost_figure(costed), width="stretch")
    left, right = st.columns(2)
    left.plotly_chart(tokens_by_pattern_figure(costed), width="stretch")
    right.plotly_chart(cost_by_model_figure(costed), width="stretch")


def receipt_view(record: CallTiming, method: str) -> None:
    """The readable receipt (one explained line per field), the call's cost and the raw JSON."""
    usage = record.usage
    table = current_price_table()
    price = table.price_for(record.model_name or "")
    if usage is None:
        cost_text = "unknown — usage not reported"
    elif price is None:
        cost_text = f"no price for {code_span(record.model_name or '')} in the price table"
    else:
        cost = call_cost(usage, price, service_tier=record.response_metadata.get("service_tier"))
        cost_text = (
            f"**{format_usd(cost.total_usd)}** at {code_span(price.model)} prices ({cost.tier} tier, "
            f"as of {table.as_of})"
        )
    with st.container(key="metadata-receipt"):
        st.markdown(f"**Receipt of one `{method}` call** · cost: {cost_text}")
        lines = []
        for line in receipt_lines(record.response_metadata, usage):
            value = f"`{_cell(line.value)}`" if line.reported else f"_{line.value}_"
            lines.append(f"- **{line.field}** {value} — {line.meaning} :gray[`{_cell(line.where)}`]")
        st.markdown("\n".join(lines))
    render_waterfall(record.trace, key="metadata-receipt")
    raw = raw_receipt(record.response_metadata, usage)
    with st.expander("Raw JSON: response_metadata and usage_metadata", icon=":material/data_object:"):
        left, right = st.columns(2)
        with left:
            st.markdown("`response_metadata`")
            st.json(raw["response_metadata"], expanded=True)
        with right:
            st.markdown("`usage_metadata`")
            st.json(raw["usage_metadata"], expanded=True)
            if method == "stream":
                st.caption(
                    "A stream's `response_metadata` has no `token_usage` or `id`: its usage arrives "
                    "only in the last chunk's `usage_metadata` (with `stream_usage=True`)."
                )


def _cell(text: str) -> str:
    # Metadata values come from the endpoint: keep them inert inside a Markdown code span.
    return text.replace("`", "'").replace("\n", " ")


def finish_badge(reason: str | None) -> None:
    """finish_reason as a coloured note with what it means for the reader."""
    text = f"`finish_reason = {reason or 'not reported'}` — {finish_reason_meaning(reason)}"
    if reason == "stop":
        st.success(text, icon=":material/check_circle:")
    elif reason == "length":
        st.warning(text, icon=":material/content_cut:")
    else:
        st.info(text)
