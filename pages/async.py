"""Async: the same questions sequentially, with gather, with abatch and as parallel streams."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from components.async_view import LiveStreams, failures_panel, mode_summary, modes_timeline_figure, progress_line
from components.call_kit import call_kit, simulated_remote_api
from components.display import endpoint_for_code, endpoint_or_stop, fmt_seconds, show_code
from components.router import ensure_router
from components.runtime import (
    current_conditions,
    current_settings,
)
from components.trace_view import render_waterfall
from core.call.models import Endpoint
from core.export.snippets import async_code
from core.patterns.concurrency import (
    MAX_QUESTIONS,
    Mode,
    ModeRun,
    comparison_rows,
    parse_questions,
    run_mode,
    setup_key,
)
from core.settings import Provider

ensure_router()  # a first visit straight to this page: see components/router.py

DEFAULT_QUESTIONS = ["What is AI?", "What is ML?", "What is DL?", "What is NLP?", "What is a GPU?"]
EMBEDDED = "Embedded model (CPU-bound)"
REMOTE = "Simulated remote API (+300 ms, latency-bound)"
RUNS = "async.runs"  # {situation: {Mode: ModeRun}}: kept so any rerun redraws the last results
BUTTONS = {
    Mode.SEQUENTIAL: "Sequential invoke",
    Mode.GATHER: "ainvoke + gather",
    Mode.ABATCH: "abatch",
    Mode.ASTREAM: "astream × n",
}

st.title("Async")
st.markdown(
    "Async does not make one call faster: it lets several calls *wait at the same time*, like a "
    "chef who puts the pasta on and chops vegetables while it cooks. Ask the same questions four "
    "ways and compare them on one clock."
)

settings = current_settings()
if settings.provider is Provider.LOCAL:
    situation = st.segmented_control(
        "Where the calls go", [EMBEDDED, REMOTE], default=EMBEDDED, required=True,
        key="async.situation",
        help="The remote API is simulated by the lab's network proxy on 127.0.0.1: the same "
        "model, with every request held 300 ms before it is forwarded.",
    )
    if situation == EMBEDDED:
        st.caption(
            "**CPU-bound.** SmolLM2 runs on this machine's 2 CPU cores. llama.cpp serves up to 4 "
            "requests at once and decodes them together, so overlap does help — but only as far "
            "as 2 cores go: each call gets slower while others run, and a 5th call waits for a "
            "free slot."
        )
        if not current_conditions().is_passthrough:
            st.caption(
                f":orange[The sidebar's network conditions ({current_conditions().describe()}) "
                "apply here too; set them to Off to see the machine alone.]"
            )
    else:
        st.caption(
            "**Latency-bound.** Like a hosted API, most of each call is waiting (here 300 ms "
            "before the first byte). Waiting costs no CPU, so overlapping calls wait *together*: "
            "wall time shrinks towards one call's latency. (The answers are still generated on "
            "this machine's cores, so this understates what a real hosted API gains.)"
        )
else:
    situation = f"Your endpoint ({settings.provider.label})"
    st.caption(
        "A remote API's time is mostly waiting on the network and the provider's queue, so "
        "overlap helps — until its rate limits (HTTP 429) answer: that is what `abatch`'s "
        "`max_concurrency` is for."
    )

left, right = st.columns([1.6, 1])
with left:
    questions_text = st.text_area(
        f"Questions, one per line (up to {MAX_QUESTIONS})", "\n".join(DEFAULT_QUESTIONS),
        key="async.questions", height=150,
    )
with right:
    max_tokens = st.select_slider(
        "Max tokens per answer", [16, 32, 48, 64, 128, 256], value=48, key="async.max_tokens",
        help="Overrides the sidebar's max output tokens on this page so that 'Run all' takes "
        "seconds. Answers cut at this length finish with 'length'.",
    )
    max_concurrency = st.number_input(
        "abatch max_concurrency", 1, MAX_QUESTIONS, 2, key="async.max_concurrency",
        help="abatch keeps at most this many calls in flight; the others wait their turn.",
    )
prompts = parse_questions(questions_text)

buttons = st.columns([1, 1, 0.7, 0.9, 1])
clicked = [mode for col, mode in zip(buttons, Mode, strict=False) if col.button(BUTTONS[mode], width="stretch")]
if buttons[4].button("Run all", type="primary", icon=":material/play_arrow:", width="stretch"):
    clicked = list(Mode)


def situation_endpoint(endpoint: Endpoint, situation: str) -> Endpoint:
    """The endpoint for the chosen situation (the simulated remote goes through the proxy)."""
    if situation == REMOTE:
        return simulated_remote_api(endpoint)
    return endpoint


def run_one(
    mode: Mode, endpoint: Endpoint, prompts: list[str], *, situation: str, max_tokens: int,
    max_concurrency: int, context: str,
) -> ModeRun:
    """Run one mode with live progress (and live streams for astream); keep its result.

    `context` (endpoint, max tokens, temperature, seed) joins the prompts in the run's setup key:
    runs are only drawn together when both match.
    """
    area = st.empty()
    with area.container(border=True):
        status = st.empty()
        status.markdown(f"**{mode.label}** · starting…")
        live = LiveStreams(prompts, key_prefix="live") if mode.streams else None
    kit = call_kit("async", endpoint)
    started = time.perf_counter()
    run = run_mode(
        mode,
        prompts,
        # A fresh ChatOpenAI per action; async modes get one HTTP client per event loop.
        kit.model_factory(max_tokens=max_tokens),
        config=kit.config,
        max_concurrency=max_concurrency,
        setup=setup_key(prompts, context),
        secrets=kit.secrets,
        on_chunk=live.on_chunk if live else None,
        on_progress=lambda r: status.markdown(progress_line(r, time.perf_counter() - started)),
    )
    run.situation = situation
    # Stored at once: if a click stops "Run all" midway, the modes that finished stay. Runs
    # with other questions or settings are dropped: the timeline only shows comparable runs.
    stored = st.session_state.setdefault(RUNS, {}).setdefault(situation, {})
    if any(old.setup != run.setup for old in stored.values()):
        stored.clear()
    stored[mode] = run
    area.empty()
    return run


if clicked and not prompts:
    st.warning("Type at least one question first.")
elif clicked:
    endpoint = situation_endpoint(endpoint_or_stop(), situation)
    context = f"{endpoint.label}|{max_tokens}|{settings.temperature}|{settings.seed}"
    for mode in clicked:
        run_one(mode, endpoint, prompts, situation=situation, max_tokens=max_tokens,
                max_concurrency=int(max_concurrency), context=context)


runs = st.session_state.get(RUNS, {}).get(situation, {})
if runs:
    shown = [runs[m] for m in Mode if m in runs]
    st.subheader(f"Timeline — {situation}")
    failures_panel(shown)
    chart_col, numbers_col = st.columns([2.2, 1])
    chart_col.plotly_chart(modes_timeline_figure(shown), width="stretch", key="async-timeline")
    with numbers_col:
        for run in shown:
            mode_summary(run, runs.get(Mode.SEQUENTIAL))
    st.caption(
        "**Bars:** a call starts when LangChain starts it and ends when its answer is complete. "
        "Orange = in flight with nothing to show yet; blue = tokens arriving (ticks are tokens); "
        "◆ = the whole answer lands at once. **First token** is only measured for astream: "
        "invoke, ainvoke and abatch get the answer in one response, so their first visible word "
        "comes at the end (streaming them under the hood would change the request). "
        "**Σ call latencies** = the calls' durations added up; **speed-up** = sequential wall time "
        "÷ this mode's wall time, same questions and situation."
    )
    if Mode.ASTREAM in runs:
        st.markdown("**astream — each answer as it streamed**")
        LiveStreams([c.prompt for c in runs[Mode.ASTREAM].calls], key_prefix="final").show(
            [c.text for c in runs[Mode.ASTREAM].calls]
        )

    all_runs = st.session_state.get(RUNS, {})
    if len(all_runs) > 1:
        st.subheader("Both situations side by side")
        rows = comparison_rows(all_runs)
        st.dataframe(
            pd.DataFrame(
                {
                    "Where": [r["situation"].split(" (")[0] for r in rows],
                    "Mode": [Mode(r["mode"]).label for r in rows],
                    "Wall time": [fmt_seconds(r["wall_s"]) for r in rows],
                    "Average call": [fmt_seconds(r["mean_latency_s"]) for r in rows],
                    "Speed-up": ["—" if r["speedup"] is None else f"{r['speedup']:.1f}×" for r in rows],
                    "Most in flight": [r["peak_in_flight"] for r in rows],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        st.caption(
            "CPU-bound: calls compete for the same cores, so the average call gets slower as more "
            "overlap, and the speed-up is capped by what the machine can compute. Latency-bound: "
            "calls mostly wait, so the average call stays about the same and the speed-up grows "
            "with the number of calls in flight. (Other programs busy on this machine slow the "
            "embedded model down and make its numbers jumpy.)"
        )

    with st.expander("Where one call's time went", icon=":material/waterfall_chart:"):
        traced = [(run, call) for run in shown for call in run.calls if call.trace is not None]
        if traced:
            picked = st.selectbox(
                "Call", range(len(traced)), key="async.trace_pick", index=None,
                placeholder="Pick a call to see its waterfall",
                format_func=lambda i: f"{traced[i][0].mode.label} · question {traced[i][1].index + 1}: "
                f"{traced[i][1].prompt[:60]}",
            )
            if picked is not None:  # drawn on demand: a chart per call would slow every rerun
                render_waterfall(traced[picked][1].trace, key="async-call", title="This call, layer by layer")
        else:
            st.caption("No call of these runs was traced.")

    with st.expander("The answers", icon=":material/chat:"):
        for run in shown:
            st.markdown(f"**{run.mode.label}**")
            st.dataframe(
                pd.DataFrame(
                    {
                        "Question": [c.prompt for c in run.calls],
                        "Answer": [c.text if c.ok else f"(failed: {c.error.title})" for c in run.calls],
                        "Finish": [c.finish_reason or "—" for c in run.calls],
                        "Latency": [fmt_seconds(c.trace.e2e_s if c.trace else None) for c in run.calls],
                    }
                ),
                hide_index=True,
                width="stretch",
            )
else:
    st.info(
        "Press **Run all** to ask the questions four ways and draw them on one timeline.",
        icon=":material/timeline:",
    )

code_endpoint = endpoint_for_code()
if code_endpoint is not None and prompts:
    code_settings = settings.with_changes(max_tokens=max_tokens)
    for mode in Mode:
        show_code(
            async_code(mode.value, code_settings, code_endpoint, prompts,
                       max_concurrency=int(max_concurrency)),
            label=f"Show the code: {mode.label}",
        )
