"""The Chat page's views: the turns as chat messages, their figure lines, and the charts over turns.

The figure functions (`turns_figure`, `cache_figure`) never call `st.*`: the session report draws
the same charts the audience saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import streamlit as st

from components.display import show_problem
from components.theme import BLUE, GREEN, GREY, ORANGE, PURPLE
from core.money.pricing import format_usd
from core.patterns.conversation import NOT_REPORTED, Conversation, Turn, TurnFigures, turn_problem
from core.security.untrusted import answer_markdown

if TYPE_CHECKING:  # plotly loads with the first chart, not with the page
    import plotly.graph_objects as go

CHART_HEIGHT = 410

# The chart column stays in view while the conversation scrolls under it: a presenter at the
# newest message (where the input is) still sees the chart grow. Static CSS, no model output.
_STICKY_CHART = """
<style>
[data-testid="stLayoutWrapper"]:has(> .st-key-chat-chart) { position: sticky; top: 3.75rem; z-index: 2; }
</style>
"""


def chat_style() -> None:
    """The page's one bit of CSS: the chart over turns sticks beside the conversation."""
    st.html(_STICKY_CHART)


def turn_message(turn: Turn, figures: TurnFigures, *, retry: Callable[[], None] | None = None) -> None:
    """One exchange: the user's message, then the answer with its figure line and what was sent.

    Keyed `chat-turn-<n>` (the CSS class `.st-key-chat-turn-<n>` the browser tests select).
    """
    with st.container(key=f"chat-turn-{figures.number}"):
        with st.chat_message("user"):
            st.text(turn.user)  # plain text: a message is never rendered as Markdown or HTML
        with st.chat_message("assistant"):
            answer_body(turn, figures, retry=retry)


def answer_body(turn: Turn, figures: TurnFigures, *, retry: Callable[[], None] | None = None) -> None:
    """The answer (or what arrived of it), the compact figure line, the problem and the sent messages."""
    if turn.answer and turn.status != "complete":
        st.markdown(answer_markdown(turn.answer) + " **[incomplete]**")
    elif turn.answer:
        st.markdown(answer_markdown(turn.answer))
    elif turn.status != "complete":
        st.caption("No answer arrived.")
    st.caption(figure_line(figures, turn))
    problem = turn_problem(turn)
    if problem is not None:
        kept = len(turn.answer)
        show_problem(problem, what_was_kept=(
            f"The {kept:,} characters that arrived are kept above, marked incomplete; they are not "
            "resent with the next turn." if kept else "The earlier turns are kept."))
        if retry is not None:
            st.button("Retry this turn", icon=":material/refresh:", key="chat-retry",
                      on_click=retry)
    sent_details(turn)


def figure_line(figures: TurnFigures, turn: Turn) -> str:
    """`TurnFigures.line`, with where the cached share came from."""
    line = f"Turn {figures.number} · " + figures.line()
    if turn.cache_off:
        line += " · cache off"
    return line


def sent_details(turn: Turn) -> None:
    """What the model actually saw this turn: every message, and how the history was treated."""
    if not turn.sent:
        return
    counted = f"{turn.sent_tokens:,} tokens" if turn.sent_tokens is not None else "not counted"
    with st.expander(f"Sent: {len(turn.sent)} messages, {counted} — {turn.history_note}", icon=":material/outbox:"):
        st.caption(f"Counted before sending: {turn.sent_tokens_method}.")
        for message in turn.sent:
            st.text(f"{message.role}: {message.content}")
        if turn.summary is not None and turn.summary.trace is not None:
            st.caption("The summary was its own model call: it is in the ledger, and its cost is in this turn's.")


def sources_caption(figures: Sequence[TurnFigures]) -> None:
    """Where the numbers come from, once under the conversation."""
    if not figures:
        return
    last = figures[-1]
    lines = [
        f"**Cached / new input tokens:** {last.input.source}.",
        f"**Prefill:** {last.prefill_source}. **TTFT:** from the call's start to the first streamed text (the call trace).",
        f"**Context:** {last.context_window.source}.",
    ]
    if last.input.server_check:
        lines.append(f"**Cross-check, last turn:** {last.input.server_check}.")
    with st.expander("Where the numbers come from", icon=":material/info:"):
        st.caption("  \n".join(lines))


def turns_figure(figures: Sequence[TurnFigures]) -> go.Figure:
    """Input tokens per turn (cached and new, stacked), TTFT and the cumulative cost, over turns.

    A turn whose numbers were not reported has no bar or point there, never a zero.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    turns = [f.number for f in figures]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.46, 0.27, 0.27],
                        subplot_titles=(f"Input tokens: <span style='color:{GREEN}'><b>cached</b></span> + "
                                        f"<span style='color:{BLUE}'><b>new</b></span>",
                                        "Time to first token (s)", "Cost so far (USD)"))
    fig.add_trace(go.Bar(x=turns, y=[f.input.cached for f in figures], name="cached (the server's cache)",
                         marker_color=GREEN, showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(x=turns, y=[f.input.new for f in figures], name="new (prefilled)", marker_color=BLUE,
                         showlegend=False), row=1, col=1)
    unsplit = [f.input.total if f.input.cached is None else None for f in figures]
    if any(v is not None for v in unsplit):
        fig.add_trace(go.Bar(x=turns, y=unsplit, name=f"cached share {NOT_REPORTED}", marker_color=GREY),
                      row=1, col=1)
    fig.add_trace(go.Scatter(x=turns, y=[f.trace.ttft_s if f.trace else None for f in figures], name="TTFT", mode="lines+markers",
                             marker_color=ORANGE, showlegend=False), row=2, col=1)
    fig.add_trace(go.Scatter(x=turns, y=[f.cumulative_usd for f in figures], name="cumulative cost",
                             mode="lines+markers", marker_color=PURPLE, showlegend=False), row=3, col=1)
    fig.update_layout(barmode="stack", height=CHART_HEIGHT, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": -0.12, "x": 0}, font={"size": 14})
    fig.update_xaxes(title_text="turn", dtick=1, row=3, col=1)
    fig.update_yaxes(rangemode="tozero")
    return fig


def cache_figure(cached: Sequence[TurnFigures], uncached: Sequence[TurnFigures]) -> go.Figure:
    """TTFT and the server's prefill per turn, with the prompt cache and without it."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, rows, colour in (("with the cache", cached, GREEN), ("cache off", uncached, ORANGE)):
        turns = [f.number for f in rows]
        fig.add_trace(go.Scatter(x=turns, y=[f.trace.ttft_s * 1000 if f.trace and f.trace.ttft_s is not None else None for f in rows],
                                 name=f"TTFT, {label}", mode="lines+markers", line={"color": colour, "width": 3}))
        fig.add_trace(go.Scatter(x=turns, y=[f.prefill_ms for f in rows], name=f"server prefill, {label}",
                                 mode="lines+markers", line={"color": colour, "dash": "dot"}))
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, font={"size": 14},
                      yaxis_title="ms", xaxis_title="turn", legend={"orientation": "h", "y": 1.15, "x": 0})
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(rangemode="tozero")
    return fig


def conversation_summary(conversation: Conversation, figures: Sequence[TurnFigures]) -> str:
    """One line under the chart: turns, tokens sent, cached share, cost so far."""
    if not figures:
        return ""
    sent = [f.input.total for f in figures if f.input.total is not None]
    cached = [f.input.cached for f in figures if f.input.cached is not None]
    parts = [f"{len(conversation.turns)} turn{'s' if len(conversation.turns) != 1 else ''}"]
    if sent:
        parts.append(f"{sum(sent):,} input tokens sent in all")
    if cached and sent:
        parts.append(f"{sum(cached):,} of them from the cache ({sum(cached) / sum(sent):.0%})")
    last = figures[-1]
    parts.append("cost so far: unknown (a turn's cost was not reported)" if last.cumulative_usd is None
                 else f"cost so far {format_usd(last.cumulative_usd)}")
    return " · ".join(parts)
