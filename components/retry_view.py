"""Batch page, "Retries" tab: the client's `max_retries` beside `Runnable.with_retry`.

The same calls meet the same simulated fault twice; every HTTP attempt and every wait before a
retry is drawn, so "honours Retry-After" and "exponential back-off with jitter" can be seen.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import streamlit as st

from components.call_kit import call_kit
from components.display import endpoint_or_stop, fmt_seconds
from components.rate_limit_view import requests_figure
from components.runtime import (
    current_settings,
    endpoint_with_conditions,
)
from core.network.conditions import NetworkConditions
from core.patterns.rate_limits import RecordedBatch
from core.patterns.retries import (
    CLIENT,
    RUNNABLE,
    attempts_problem,
    run_retry_demo,
    waits_between,
)

RESULT_KEY = "batch.retries.result"
FAULTS: dict[str, NetworkConditions] = {
    "429: 1 request at once (Retry-After: 1 s)": NetworkConditions(max_concurrent=1),
    "503 on half of the requests": NetworkConditions(error_rate=0.5),
}


def retry_section(prompts: Sequence[str]) -> None:
    """Controls, both runs, their metrics, the attempts timeline and the waits table."""
    st.markdown(
        "Two ways to retry. **The client's own** `ChatOpenAI(max_retries=n)`: the openai client "
        "retries 429s, 5xx and dropped connections itself and waits what the server's "
        "`Retry-After` asks. **`llm.with_retry(...)`**: LangChain calls the model again on the "
        "exceptions you name, with exponential back-off and jitter — it does not read "
        "`Retry-After`. The same calls meet the same kind of fault twice; every attempt is drawn, "
        "with the wait before each retry."
    )
    left, mid, right = st.columns([2.2, 1, 1])
    fault = left.radio("Fault (the lab's proxy)", list(FAULTS), key="batch.retry.fault")
    calls = mid.number_input("Calls at once", 1, 8, 3, key="batch.retry.calls",
                             help="The first N prompts, asked at the same time.")
    attempts = right.number_input(
        "Attempts per call", min_value=-5, max_value=10, value=4, key="batch.retry.attempts",
        help="The first try included: 4 = up to 3 retries. Both ways get the same number.",
    )
    problem = attempts_problem(int(attempts))
    if problem:
        st.error(problem, icon=":material/error:")
    if st.button("Run both ways", type="primary", icon=":material/replay:", key="batch.retry.run",
                 disabled=bool(problem) or not prompts):
        st.session_state[RESULT_KEY] = _run_both(list(prompts[: int(calls)]), FAULTS[fault], int(attempts))
    runs = st.session_state.get(RESULT_KEY)
    if runs:
        _show(runs)


def _run_both(prompts: list[str], fault: NetworkConditions, attempts: int) -> list[RecordedBatch]:
    direct = endpoint_or_stop().direct
    max_tokens = min(32, current_settings().max_tokens)
    seed = random.randrange(1 << 30)
    runs: list[RecordedBatch] = []
    with st.status("Retrying with the client's max_retries…") as status:
        for how in (CLIENT, RUNNABLE):
            if how == RUNNABLE:
                status.update(label="Retrying with with_retry…")
            # A fresh route per run (the proxy keys routes by their conditions, seed included),
            # so the second run does not inherit the first's counters or random draws.
            route_conditions = dataclasses.replace(fault, seed=seed + (how == RUNNABLE))
            endpoint = endpoint_with_conditions(direct, route_conditions)

            kit = call_kit("batch", endpoint)
            runs.append(
                run_retry_demo(kit.model_factory(max_tokens=max_tokens), prompts, how=how,
                               attempts=attempts, config=kit.config, secrets=kit.secrets)
            )
        status.update(label="Both ways finished", state="complete")
    return runs


def _show(runs: list[RecordedBatch]) -> None:
    cols = st.columns(len(runs))
    for col, run in zip(cols, runs, strict=True):
        waits = waits_between(run.attempts)
        key = "client" if run.label.startswith("client") else "runnable"
        with col.container(border=True, key=f"batch-retry-{key}"):
            st.markdown(f"**`{run.label}`**")
            a, b, c, d = st.columns(4)
            a.metric("Attempts", f"{len(run.attempts):,}", help="HTTP requests, first tries included.")
            b.metric("Calls failed", f"{run.failed} of {len(run.outcomes)}",
                     help="After every attempt was used.")
            c.metric("Longest wait", fmt_seconds(max((w.seconds for w in waits), default=None)))
            d.metric("Wall time", fmt_seconds(run.wall_s))
            honoured = [w for w in waits if w.retry_after_s]
            if honoured:
                st.caption(
                    f"{len(honoured)} waits after a Retry-After of "
                    f"{', '.join(sorted({f'{w.retry_after_s:g} s' for w in honoured}))}: waited "
                    f"{min(w.seconds for w in honoured):.1f}–{max(w.seconds for w in honoured):.1f} s."
                )
    st.plotly_chart(requests_figure(runs, show_waits=True), width="stretch", key="batch.retry.chart")
    st.caption(
        "Each bar is one HTTP attempt (sent → answered); ✗ = refused (429) or failed (503); the "
        "dotted line is the wait before the next attempt of the same call, labelled with its "
        "length. The client's retries carry `x-stainless-retry-count`; with_retry's are new calls."
    )
