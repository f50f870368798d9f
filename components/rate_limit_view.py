"""Batch page, "Rate limits" tab: the same prompts without and with `InMemoryRateLimiter`.

Both runs go through the lab's network proxy under a rate limit (HTTP 429 past it); each HTTP
request is drawn on a timeline, so the 429s of the burst and the spacing of the limited run are
plain to see.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import theme
from components.call_kit import call_kit
from components.display import endpoint_or_stop, fmt_seconds
from components.runtime import (
    current_conditions,
    current_settings,
    endpoint_with_conditions,
)
from core.network.conditions import PRESETS, NetworkConditions
from core.patterns.rate_limits import (
    RecordedBatch,
    rate_problem,
    run_recorded_batch,
    suggested_rate,
)
from core.patterns.retries import waits_between

RESULT_KEY = "batch.rate_limits.result"
PRESET = "Rate-limited: 4 at once"
SIDEBAR = "As set in the sidebar"
OK_COLOR = theme.BLUE
REFUSED_COLOR = theme.RED
OTHER_COLOR = theme.ORANGE


def _limit_of(conditions: NetworkConditions) -> str:
    parts = []
    if conditions.max_concurrent:
        parts.append(f"at most {conditions.max_concurrent} at once")
    if conditions.requests_per_minute:
        parts.append(f"{conditions.requests_per_minute} per minute")
    return " and ".join(parts)


def rate_limit_section(prompts: Sequence[str]) -> None:
    """Controls, the two runs, their metrics and the requests-over-time chart."""
    st.markdown(
        "LangChain's `InMemoryRateLimiter`, passed as the model's `rate_limiter`, spaces out the "
        "calls: a token bucket refilled at *r* requests per second, one token per call. Here "
        "the same prompts run twice through the lab's proxy under a rate limit — first as fast "
        "as `max_concurrency` allows, then with the limiter. Every HTTP request is drawn: "
        "red ✗ are the requests the API refused (HTTP 429), blue bars the ones it answered."
    )
    sidebar_conditions = current_conditions()
    options = [PRESET, SIDEBAR]
    left, mid, right = st.columns([2.2, 1, 1])
    choice = left.radio(
        "Limit the proxy enforces", options, horizontal=True, key="batch.rl.limit",
        index=1 if _limit_of(sidebar_conditions) else 0,
        format_func=lambda o: o if o == PRESET else f"{o} ({sidebar_conditions.describe()})",
    )
    conditions = PRESETS[PRESET] if choice == PRESET else sidebar_conditions
    n_rows = mid.number_input(
        "Prompts (the first N)", 1, max(1, len(prompts)), min(8, len(prompts)),
        key="batch.rl.rows",
    )
    concurrency = right.number_input(
        "max_concurrency", 1, 32, 8, key="batch.rl.concurrency",
        help="Calls in flight at once without the limiter: above the proxy's limit, some get 429.",
    )
    rate_col, button_col = st.columns([1.7, 1.3], vertical_alignment="bottom")
    rate = rate_col.number_input(
        "Limiter rate, requests per second (empty = suggest one)",
        min_value=-10.0, max_value=100.0, value=None, step=0.5, key="batch.rl.rate",
        placeholder="auto",
        help="InMemoryRateLimiter(requests_per_second=r). Against 'N at once' it must stay under "
        "N ÷ one call's latency; against 'M per minute', under M / 60.",
    )
    limit = _limit_of(conditions)
    if not limit:
        st.info(
            "These network conditions have no rate limit, so nothing would be refused. Pick "
            f"“{PRESET}”, or set a limit under Network conditions → Custom… in the sidebar.",
            icon=":material/info:",
        )
    problem = rate_problem(rate) if rate is not None else None
    if problem:
        st.error(problem, icon=":material/error:")
    run = button_col.button(
        "Run without, then with", type="primary", icon=":material/speed:",
        key="batch.rl.run", disabled=not limit or bool(problem) or not prompts, width="stretch",
    )
    if run:
        st.session_state[RESULT_KEY] = _run_both(list(prompts[: int(n_rows)]), conditions,
                                                 int(concurrency), rate)
    result = st.session_state.get(RESULT_KEY)
    if result is not None:
        _show(*result)


def _fresh(conditions: NetworkConditions) -> NetworkConditions:
    # A route of its own per run: a per-minute window filled by the first run must not count
    # against the second (the proxy keys routes by their conditions, seed included).
    return dataclasses.replace(conditions, seed=random.randrange(1 << 30))


def _run_both(
    prompts: list[str], conditions: NetworkConditions, concurrency: int, rate: float | None
) -> tuple[list[RecordedBatch], str]:
    direct = endpoint_or_stop().direct
    settings = current_settings()
    max_tokens = min(32, settings.max_tokens)
    runs: list[RecordedBatch] = []
    note = ""
    with st.status("Running without a rate limiter…", expanded=False) as status:
        for label, use_limiter in (("without a rate limiter", False), ("with InMemoryRateLimiter", True)):
            endpoint = endpoint_with_conditions(direct, _fresh(conditions))
            rps = None
            if use_limiter:
                rps = rate if rate is not None else suggested_rate(
                    conditions, runs[0].accepted_latency_s() if runs else None
                )
                if rps is None:
                    note = (
                        "No request of the first run was answered, so no rate could be suggested: "
                        "enter one above."
                    )
                    break
                note = (
                    f"Rate {rps:g}/s given." if rate is not None else
                    f"Rate {rps:g}/s suggested: " + _why(conditions, runs[0])
                )
                status.update(label=f"Running with InMemoryRateLimiter at {rps:g}/s…")

            kit = call_kit("batch", endpoint)
            runs.append(
                run_recorded_batch(
                    kit.model_factory(max_tokens=max_tokens), prompts, label=label,
                    max_concurrency=concurrency, requests_per_second=rps, config=kit.config,
                    secrets=kit.secrets,
                )
            )
        status.update(label="Both runs finished", state="complete")
    return runs, note


def _why(conditions: NetworkConditions, first: RecordedBatch) -> str:
    reasons = []
    if conditions.requests_per_minute:
        reasons.append(f"90% of {conditions.requests_per_minute} per minute")
    latency = first.accepted_latency_s()
    if conditions.max_concurrent and latency:
        reasons.append(
            f"60% of {conditions.max_concurrent} at once ÷ {latency:.2f} s per call "
            "(the first run's median)"
        )
    if len(reasons) == 2:
        return f"the lower of {reasons[0]} and {reasons[1]}."
    return (reasons[0] if reasons else "from the limit") + "."


def _show(runs: list[RecordedBatch], note: str) -> None:
    if note:
        st.caption(note)
    cols = st.columns(len(runs))
    for col, run in zip(cols, runs, strict=True):
        with col.container(border=True, key=f"batch-rl-{'with' if run.requests_per_second else 'without'}"):
            st.markdown(f"**{run.label}**" + (f" · {run.requests_per_second:g}/s" if run.requests_per_second else ""))
            a, b, c, d = st.columns(4)
            a.metric("Requests sent", f"{len(run.attempts):,}", help="Every HTTP request, the client's retries included.")
            b.metric("429 refused", f"{run.refused:,}")
            c.metric("Prompts failed", f"{run.failed:,} of {len(run.outcomes):,}",
                     help="After the client's own retries (Max retries in the sidebar).")
            d.metric("Wall time", fmt_seconds(run.wall_s))
    st.plotly_chart(requests_figure(runs), width="stretch", key="batch.rl.chart")


def requests_figure(runs: Sequence[RecordedBatch], *, show_waits: bool = False) -> go.Figure:
    """One panel per run: each request a bar from sent to answered, on the prompt's row.

    With `show_waits`, the pause before each retry is a dotted line labelled with its length.
    """
    fig = make_subplots(
        rows=len(runs), cols=1, shared_xaxes=True, vertical_spacing=0.14,
        subplot_titles=[
            f"{r.label}: {len(r.attempts)} requests, {r.refused} × 429" for r in runs
        ],
    )
    for row, run in enumerate(runs, start=1):
        groups = (
            ("answered", OK_COLOR, lambda a: a.status is not None and a.status < 400),
            ("429 refused", REFUSED_COLOR, lambda a: a.refused),
            ("other error", OTHER_COLOR, lambda a: not a.refused and (a.status is None or a.status >= 400)),
        )
        for name, color, chosen in groups:
            picked = [a for a in run.attempts if chosen(a)]
            if not picked:
                continue
            xs: list[float | None] = []
            ys: list[float | None] = []
            for a in picked:
                y = (a.prompt_index or 0) + 1
                xs += [a.sent_at_s, a.answered_at_s if a.answered_at_s is not None else a.sent_at_s, None]
                ys += [y, y, None]
            fig.add_trace(
                go.Scatter(x=xs, y=ys, mode="lines", line={"color": color, "width": 9},
                           name=name, legendgroup=name, showlegend=False, hoverinfo="skip"),
                row=row, col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=[a.sent_at_s for a in picked], y=[(a.prompt_index or 0) + 1 for a in picked],
                    mode="markers", name=name, legendgroup=name, showlegend=row == 1 or name != "answered",
                    marker={"color": color, "size": 13 if name != "answered" else 9,
                            "symbol": "x" if name != "answered" else "circle"},
                    hovertemplate="prompt #%{y} sent at %{x:.2f} s<extra>" + name + "</extra>",
                ),
                row=row, col=1,
            )
        if show_waits:
            _draw_waits(fig, run, row)
        fig.update_yaxes(title_text="prompt #", autorange="reversed", dtick=1 if len(run.outcomes) <= 12 else None,
                         row=row, col=1)
    fig.update_xaxes(title_text="seconds since the run began", rangemode="tozero", row=len(runs), col=1)
    fig.update_layout(
        height=240 + 170 * len(runs),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.18, "font": {"size": 15}},
        font={"size": 15},
    )
    fig.update_annotations(font_size=16)
    return fig


WAIT_COLOR = theme.GREY


def _draw_waits(fig: go.Figure, run: RecordedBatch, row: int) -> None:
    waits = waits_between(run.attempts)
    if not waits:
        return
    xs: list[float | None] = []
    ys: list[float | None] = []
    for w in waits:
        xs += [w.from_s, w.to_s, None]
        ys += [w.prompt_index + 1, w.prompt_index + 1, None]
    fig.add_trace(
        go.Scatter(x=xs, y=ys, mode="lines", line={"color": WAIT_COLOR, "width": 3, "dash": "dot"},
                   name="wait before a retry", legendgroup="wait", showlegend=row == 1,
                   hoverinfo="skip"),
        row=row, col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[(w.from_s + w.to_s) / 2 for w in waits], y=[w.prompt_index + 1 for w in waits],
            mode="text", text=[f"{w.seconds:.1f} s" for w in waits], textposition="top center",
            textfont={"size": 14, "color": theme.SLATE}, showlegend=False,
            hovertext=[
                f"waited {w.seconds:.2f} s" + (f" (Retry-After: {w.retry_after_s:g} s)" if w.retry_after_s else "")
                for w in waits
            ],
            hoverinfo="text",
        ),
        row=row, col=1,
    )
