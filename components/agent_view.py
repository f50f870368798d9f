"""The agent loop's steps on the Streaming events page: each model call, each tool call, the total."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.display import fmt_seconds
from components.prices import current_price_table
from components.trace_view import render_waterfall
from core.call.trace import CallTrace
from core.money.costs import run_cost_usd, run_unpriced
from core.money.pricing import format_usd
from core.patterns.agent import agent_run
from core.patterns.events import EventRecorder


def _this_runs_traces(recorder: EventRecorder) -> list[CallTrace]:
    """The traces of the model calls this run made (its on_chat_model_start events' runs)."""
    if recorder.tracer is None:
        return []
    ids = [e.run_id for e in recorder.events if e.event == "on_chat_model_start"]
    return [t for t in (recorder.tracer.trace(i) for i in ids) if t is not None]


def _tool_rows(recorder: EventRecorder) -> list[dict[str, Any]]:
    """Each tool run: the arguments the model chose, and what went back (or the error)."""
    rows: dict[str, dict[str, Any]] = {}
    for e in recorder.events:
        if e.event == "on_tool_start":
            rows[e.run_id] = {"at (ms)": round(e.at_s * 1000), "tool": e.name,
                              "arguments the model chose": str((e.data or {}).get("input")),
                              "went back to the model": "…"}
        elif e.event in ("on_tool_end", "on_tool_error") and e.run_id in rows:
            rows[e.run_id]["went back to the model"] = e.summary
    for e in recorder.events:  # calls that never reached a tool: unknown name, bad arguments
        if e.event == "on_custom_event" and e.name == "tool_error":
            data = e.data if isinstance(e.data, dict) else {}
            if not any(r["tool"] == data.get("tool") and "error" in r["went back to the model"] for r in rows.values()):
                rows[f"custom-{e.index}"] = {"at (ms)": round(e.at_s * 1000), "tool": data.get("tool"),
                                             "arguments the model chose": str(data.get("args")),
                                             "went back to the model": f"error: {data.get('error')}"}
    return sorted(rows.values(), key=lambda r: r["at (ms)"])


def agent_section(recorder: EventRecorder, *, key: str) -> None:
    """The loop's tool calls, its total (a Run of its model calls), and each step's anatomy."""
    traces = _this_runs_traces(recorder)
    run = agent_run(traces)
    prices = current_price_table()
    st.markdown("#### The agent loop, step by step")
    cols = st.columns(4)
    cols[0].metric("Model calls", f"{run.count}")
    cols[1].metric("Tool calls", f"{sum(1 for e in recorder.events if e.event == 'on_tool_start')}")
    tokens = ("not reported" if run.input_tokens is None else
              f"{run.input_tokens:,} / {run.output_tokens or 0:,}")
    cols[2].metric("Tokens in / out (all calls)", tokens,
                   help="The sum of every model call's reported usage (the run of its calls).")
    cost = run_cost_usd(run, prices)
    unpriced = run_unpriced(run, prices)
    cols[3].metric("Cost (all calls)", format_usd(cost),
                   help="The sum of each call's tokens × its model's price in the price table"
                   + (f"; {unpriced} call(s) without a price or usage are left out." if unpriced else "."))
    rows = _tool_rows(recorder)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}-tools")
    else:
        st.caption("No tool ran in this loop.")
    for number, trace in enumerate(run.calls, start=1):
        called = trace.finish_reason == "tool_calls" or any(c.args for c in trace.chunks)
        what = "asked for a tool" if called else "answered"
        with st.container(border=True, key=f"{key}-step-{number}"):
            st.markdown(f"**Model call {number}** — {what} · total {fmt_seconds(trace.e2e_s)} · "
                        f"tokens {_tokens(trace)}")
            render_waterfall(trace, key=f"{key}-step-{number}", title=f"Where model call {number}'s time went")


def _tokens(trace: CallTrace) -> str:
    usage = trace.usage
    return "not reported" if usage is None else f"{usage.input_tokens:,} in / {usage.output_tokens:,} out"
