"""Streaming: tokens appear as they are generated, and what that buys over waiting."""

from __future__ import annotations

import time
from collections.abc import Iterator

import streamlit as st

from components.answer_box import AnswerBoxes
from components.call_kit import call_kit
from components.display import endpoint_for_code, endpoint_or_stop, replay_badge, show_code, show_problem
from components.measure_view import measure_section
from components.router import ensure_router
from components.runtime import current_settings
from components.streaming_view import (
    first_word_metrics,
    stream_metrics,
    stream_vs_wait_figure,
    usage_line,
)
from components.trace_view import render_waterfall
from core.call.models import Endpoint
from core.export.snippets import streaming_code
from core.patterns.streaming import InvokeRecord, StreamCapture, StreamRecord, in_frames, timed_invoke
from core.security.untrusted import answer_chunks

ensure_router()  # a first visit straight to this page: see components/router.py

EXAMPLES = {
    "Joke": "Tell me a joke about a cat who learns to cook.",
    "Story": "Write a short story about a robot who learns to paint.",
    "Explain": "Explain in three short paragraphs how a rainbow forms.",
    "List": "List five tips for giving a good presentation, one line each.",
}
LAST_STREAM = "streaming.last_stream"
LAST_COMPARISON = "streaming.last_comparison"
LAST_REPLAY = "streaming.last_replay"  # the recording the last answer came from, if any
METRICS_REFRESH_S = 0.5
# Without a user-chosen seed, the race uses this one for both calls, so that invoke and stream
# generate the same answer and only the delivery differs.
COMPARISON_SEED = 42

st.title("Streaming")
st.markdown(
    "With `llm.stream()` the answer arrives token by token, so the first words are on screen "
    "while the rest is still being generated — like a sushi bar, where each piece is served as "
    "soon as it is made. The total time is the same as waiting; the *time to first token* is "
    "what people feel."
)


def _use_example() -> None:
    choice = st.session_state.get("streaming.example")
    if choice:
        st.session_state["streaming.prompt"] = EXAMPLES[choice]


st.pills("Examples", list(EXAMPLES), key="streaming.example", on_change=_use_example)
prompt = st.text_area(
    "Prompt", value=EXAMPLES["Joke"], key="streaming.prompt", height=90, max_chars=4000
)


def draw_metrics(slot, record: StreamRecord, *, compact: bool, running: bool = False) -> None:
    with slot.container():
        if compact:
            first_word_metrics(record.trace.ttft_s, None if running else record.trace.e2e_s)
        else:
            stream_metrics(record, running=running)


def live_text(capture: StreamCapture, metrics_slot, *, compact: bool) -> Iterator[str]:
    """Pass text to st.write_stream in frames, refreshing the metrics a few times a second."""
    # The metrics strip is a dozen elements: drawn with the second frame, neither before the
    # first nor right behind it, so the browser draws the first words alone (bench.app_paths).
    last_refresh = 0.0
    for frames, frame in enumerate(in_frames(capture.text_chunks()), start=1):
        yield frame
        now = time.perf_counter()
        if frames == 2 or (frames > 2 and now - last_refresh > METRICS_REFRESH_S):
            draw_metrics(metrics_slot, capture.record, compact=compact, running=True)
            last_refresh = now


def render_outcome(record: StreamRecord | InvokeRecord) -> None:
    if record.error:
        kept = len(record.text)
        show_problem(
            record.error,
            what_was_kept=f"The {kept:,} characters that arrived are kept above." if kept else None,
        )
    if record.ok or record.incomplete:
        st.caption(usage_line(record))


def stream_here(
    endpoint: Endpoint,
    prompt: str,
    answers: AnswerBoxes,
    run_started: float,
    *,
    compact: bool = False,
    **model_overrides: object,
) -> StreamRecord:
    """Stream the prompt into the page (metrics above, text below); return the record.

    `run_started` is when this script run began: the waterfall shows the wait before the call.
    """
    kit = call_kit("streaming", endpoint)
    capture = StreamCapture(kit.model(**model_overrides), prompt, kit.config, secrets=kit.secrets)
    metrics_slot = st.empty()
    box = answers.box()
    # The previous run's outcome and waterfall are cleared before the first token: left below
    # the growing answer, the chart cost the browser layout work on every frame (bench.app_paths).
    # One slot for both: each element drawn before the first token costs the browser a pass.
    after_slot = st.empty()
    with box:
        st.write_stream(answer_chunks(live_text(capture, metrics_slot, compact=compact)))
    trace = capture.record.trace
    if trace is not None:
        trace.page_started, trace.shown = run_started, time.perf_counter()
    draw_metrics(metrics_slot, capture.record, compact=compact)
    with after_slot.container():
        render_outcome(capture.record)
    # The waterfall (a plotly chart) is drawn once, by the full rerun that follows the answer
    # (`call_and_answer`): drawn here too, sixteen sessions at once drew every chart twice.
    return capture.record


def render_stored(record: StreamRecord | InvokeRecord, answers: AnswerBoxes, *, compact: bool = False) -> None:
    """Redraw a finished call (after a rerun) exactly as it ended."""
    if isinstance(record, StreamRecord):
        draw_metrics(st.empty(), record, compact=compact)
    else:
        first_word_metrics(record.trace.e2e_s if record.ok else None, record.trace.e2e_s)
    if record.text:
        answers.show(record.text)
    # The same slots as `stream_here`, so the next click's empties replace all of it at once
    # instead of leaving the old chart below the new answer until the run ends.
    with st.container():
        render_outcome(record)
        if not compact:
            render_waterfall(record.trace, key="streaming")


def comparison_columns():
    wait_col, stream_col = st.columns(2, gap="large")
    wait_col.subheader("invoke(): wait for all of it")
    stream_col.subheader("stream(): read as it arrives")
    return wait_col, stream_col


def run_comparison(
    endpoint: Endpoint, prompt: str, answers: AnswerBoxes, run_started: float
) -> tuple[InvokeRecord, StreamRecord]:
    seed = current_settings().seed
    seed = COMPARISON_SEED if seed is None else seed
    wait_col, stream_col = comparison_columns()
    with wait_col:
        slot = st.empty()
        with slot.container(), st.spinner("Waiting for the whole answer… nothing to show yet."):
            first_word_metrics(None, None)
            kit = call_kit("streaming", endpoint)
            waited = timed_invoke(kit.model(seed=seed), prompt, kit.config, secrets=kit.secrets)
        with slot.container():
            render_stored(waited, answers, compact=True)
    with stream_col:
        streamed = stream_here(endpoint, prompt, answers, run_started, compact=True, seed=seed)
    return waited, streamed


def draw_comparison_chart(waited: InvokeRecord, streamed: StreamRecord) -> None:
    if waited.ok and streamed.ok:
        st.plotly_chart(stream_vs_wait_figure(waited, streamed), width="stretch")
        if len(waited.text) != len(streamed.text):
            st.caption(
                "The two answers differ in length (this backend does not honour the seed), so "
                "compare the first-word times rather than the end points."
            )


def render_last_result(answers: AnswerBoxes) -> None:
    """The last stream or comparison as it ended (with its REPLAY badge), if there is one."""
    if LAST_STREAM not in st.session_state and LAST_COMPARISON not in st.session_state:
        return
    if st.session_state.get(LAST_REPLAY):
        replay_badge(st.session_state[LAST_REPLAY])
    if LAST_STREAM in st.session_state:
        render_stored(st.session_state[LAST_STREAM], answers)
        return
    waited, streamed = st.session_state[LAST_COMPARISON]
    wait_col, stream_col = comparison_columns()
    with wait_col:
        render_stored(waited, answers, compact=True)
    with stream_col:
        render_stored(streamed, answers, compact=True)
    draw_comparison_chart(waited, streamed)


@st.fragment
def call_and_answer() -> None:
    """The buttons, then the answer they ask for, or the last one as it ended.

    A fragment: a click on Stream reruns only this part of the page, so the browser draws a
    handful of elements before the first token instead of the whole page and its sidebar.
    Once the answer is in, one full rerun brings the sidebar's session total up to date.
    """
    # The waterfall's first bar: the fragment rerun before the call (a click reruns only this).
    run_started = time.perf_counter()
    # The field's latest value: a fragment rerun keeps the arguments of the last full run.
    prompt = st.session_state.get("streaming.prompt", EXAMPLES["Joke"])
    answers = AnswerBoxes("answer")  # answer-0, answer-1, … per run: the browser tests select them
    buttons = st.container(horizontal=True)
    stream_clicked = buttons.button("Stream", type="primary", icon=":material/play_arrow:")
    compare_clicked = buttons.button("Stream vs. wait", icon=":material/compare_arrows:")
    if (stream_clicked or compare_clicked) and not prompt.strip():
        st.warning("Type a prompt first, or pick an example above.")
    elif stream_clicked or compare_clicked:
        endpoint = endpoint_or_stop()
        st.session_state[LAST_REPLAY] = endpoint.replay
        if stream_clicked:
            st.session_state.pop(LAST_COMPARISON, None)
            st.session_state[LAST_STREAM] = stream_here(endpoint, prompt, answers, run_started)
        else:
            st.session_state.pop(LAST_STREAM, None)
            waited, streamed = run_comparison(endpoint, prompt, answers, run_started)
            st.session_state[LAST_COMPARISON] = (waited, streamed)
        st.rerun(scope="app")  # the sidebar's totals, and the charts, drawn once
    else:
        # Any widget click reruns the script: redraw the last result instead of losing it.
        render_last_result(answers)


call_and_answer()
st.divider()
measure_section(prompt, endpoint_or_stop)  # N runs on a background thread: survives reruns

code_endpoint = endpoint_for_code()
if code_endpoint is not None:
    show_code(streaming_code(current_settings(), code_endpoint, prompt))
