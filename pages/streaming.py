"""Streaming: tokens appear as they are generated, and what that buys over waiting."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import streamlit as st

from components.display import endpoint_for_code, endpoint_or_stop, show_code, show_problem
from components.measure_view import measure_section
from components.router import ensure_router
from components.runtime import chat_model, current_settings, run_config, secrets_of
from components.streaming_view import (
    first_word_metrics,
    stream_metrics,
    stream_vs_wait_figure,
    usage_line,
)
from components.trace_view import render_waterfall
from core.models import Endpoint
from core.snippets import streaming_code
from core.streaming import InvokeRecord, StreamCapture, StreamRecord, in_frames, timed_invoke

ensure_router()  # a first visit straight to this page: see components/router.py
# The page's own mark: the waterfall says how long the rerun took before the call began.
SCRIPT_STARTED = time.perf_counter()

EXAMPLES = {
    "Joke": "Tell me a joke about a cat who learns to cook.",
    "Story": "Write a short story about a robot who learns to paint.",
    "Explain": "Explain in three short paragraphs how a rainbow forms.",
    "List": "List five tips for giving a good presentation, one line each.",
}
LAST_STREAM = "streaming.last_stream"
LAST_COMPARISON = "streaming.last_comparison"
METRICS_REFRESH_S = 0.5
# Without a user-chosen seed, the race uses this one for both calls, so that invoke and stream
# generate the same answer and only the delivery differs.
COMPARISON_SEED = 42
_answer_ids = itertools.count()  # answer boxes are keyed (answer-0, ...) for the browser tests

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

buttons = st.columns([1, 1.3, 3])
stream_clicked = buttons[0].button("Stream", type="primary", icon=":material/play_arrow:")
compare_clicked = buttons[1].button("Stream vs. wait", icon=":material/compare_arrows:")


def answer_box():  # a Streamlit container
    return st.container(border=True, key=f"answer-{next(_answer_ids)}")


def live_text(capture: StreamCapture, metrics_slot, *, compact: bool) -> Iterator[str]:
    """Pass text to st.write_stream in frames, refreshing the metrics a few times a second."""
    last_refresh = 0.0
    for frame in in_frames(capture.text_chunks()):
        yield frame
        now = time.perf_counter()
        if now - last_refresh > METRICS_REFRESH_S:
            draw_metrics(metrics_slot, capture.record, compact=compact, running=True)
            last_refresh = now


def draw_metrics(slot, record: StreamRecord, *, compact: bool, running: bool = False) -> None:
    with slot.container():
        if compact:
            first_word_metrics(record.time_to_first_token_s, None if running else record.total_s)
        else:
            stream_metrics(record, running=running)


def stream_here(endpoint: Endpoint, *, compact: bool = False, **model_overrides: object) -> StreamRecord:
    """Stream the prompt into the page (metrics above, text below); return the record."""
    capture = StreamCapture(
        chat_model(endpoint, **model_overrides), prompt, run_config("streaming", endpoint),
        secrets=secrets_of(endpoint),
    )
    metrics_slot = st.empty()
    draw_metrics(metrics_slot, capture.record, compact=compact, running=True)
    with answer_box():
        st.write_stream(live_text(capture, metrics_slot, compact=compact))
    trace = capture.record.trace
    if trace is not None:
        trace.page_started, trace.shown = SCRIPT_STARTED, time.perf_counter()
    draw_metrics(metrics_slot, capture.record, compact=compact)
    render_outcome(capture.record)
    if not compact:
        render_waterfall(trace, key="streaming")
    return capture.record


def render_outcome(record: StreamRecord | InvokeRecord) -> None:
    if record.error:
        kept = len(record.text)
        show_problem(
            record.error,
            what_was_kept=f"The {kept:,} characters that arrived are kept above." if kept else None,
        )
    if record.ok or record.incomplete:
        st.caption(usage_line(record))


def render_stored(record: StreamRecord | InvokeRecord, *, compact: bool = False) -> None:
    """Redraw a finished call (after a rerun) exactly as it ended."""
    if isinstance(record, StreamRecord):
        draw_metrics(st.empty(), record, compact=compact)
    else:
        first_word_metrics(record.total_s if record.ok else None, record.total_s)
    if record.text:
        with answer_box():
            st.markdown(record.text)
    render_outcome(record)
    if not compact:
        render_waterfall(record.trace, key="streaming")


def comparison_columns():
    wait_col, stream_col = st.columns(2, gap="large")
    wait_col.subheader("invoke(): wait for all of it")
    stream_col.subheader("stream(): read as it arrives")
    return wait_col, stream_col


def run_comparison(endpoint: Endpoint) -> tuple[InvokeRecord, StreamRecord]:
    seed = current_settings().seed
    seed = COMPARISON_SEED if seed is None else seed
    wait_col, stream_col = comparison_columns()
    with wait_col:
        slot = st.empty()
        with slot.container(), st.spinner("Waiting for the whole answer… nothing to show yet."):
            first_word_metrics(None, None)
            waited = timed_invoke(
                chat_model(endpoint, seed=seed), prompt, run_config("streaming", endpoint),
                secrets=secrets_of(endpoint),
            )
        with slot.container():
            render_stored(waited, compact=True)
    with stream_col:
        streamed = stream_here(endpoint, compact=True, seed=seed)
    return waited, streamed


def draw_comparison_chart(waited: InvokeRecord, streamed: StreamRecord) -> None:
    if waited.ok and streamed.ok:
        st.plotly_chart(stream_vs_wait_figure(waited, streamed), width="stretch")
        if len(waited.text) != len(streamed.text):
            st.caption(
                "The two answers differ in length (this backend does not honour the seed), so "
                "compare the first-word times rather than the end points."
            )


if (stream_clicked or compare_clicked) and not prompt.strip():
    st.warning("Type a prompt first, or pick an example above.")
elif stream_clicked:
    endpoint = endpoint_or_stop()
    st.session_state.pop(LAST_COMPARISON, None)
    st.session_state[LAST_STREAM] = stream_here(endpoint)
elif compare_clicked:
    endpoint = endpoint_or_stop()
    st.session_state.pop(LAST_STREAM, None)
    waited, streamed = run_comparison(endpoint)
    st.session_state[LAST_COMPARISON] = (waited, streamed)
    draw_comparison_chart(waited, streamed)
elif LAST_STREAM in st.session_state:
    # Any widget click reruns the script: redraw the last result instead of losing it.
    render_stored(st.session_state[LAST_STREAM])
elif LAST_COMPARISON in st.session_state:
    waited, streamed = st.session_state[LAST_COMPARISON]
    wait_col, stream_col = comparison_columns()
    with wait_col:
        render_stored(waited, compact=True)
    with stream_col:
        render_stored(streamed, compact=True)
    draw_comparison_chart(waited, streamed)

st.divider()
measure_section(prompt, endpoint_or_stop)  # N runs on a background thread: survives reruns

code_endpoint = endpoint_for_code()
if code_endpoint is not None:
    show_code(streaming_code(current_settings(), code_endpoint, prompt))
