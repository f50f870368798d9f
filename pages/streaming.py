"""Streaming: tokens appear as they are generated, and what that buys over waiting."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import streamlit as st

from components.display import endpoint_for_code, endpoint_or_stop, show_code, show_problem
from components.runtime import chat_model, current_settings, run_config, secrets_of
from components.streaming_view import stream_metrics, stream_vs_wait_figure, usage_line
from core.snippets import streaming_code
from core.streaming import StreamCapture, StreamRecord, timed_invoke

EXAMPLES = {
    "Joke": "Tell me a joke about a cat who learns to cook.",
    "Story": "Write a short story about a robot who learns to paint.",
    "Explain": "Explain in three short paragraphs how a rainbow forms.",
    "List": "List five tips for giving a good presentation, one line each.",
}
LAST_STREAM = "streaming.last_stream"
LAST_COMPARISON = "streaming.last_comparison"
METRICS_REFRESH_S = 0.15
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
left, right, _ = st.columns([1, 1.4, 2])
stream_clicked = left.button("Stream", type="primary", icon=":material/play_arrow:")
compare_clicked = right.button("Stream vs. wait", icon=":material/compare_arrows:")


def live_stream(capture: StreamCapture, metrics_slot) -> Iterator[str]:  # noqa: ANN001
    """Pass text to st.write_stream while refreshing the metric strip a few times a second."""
    last_refresh = 0.0
    for piece in capture.text_chunks():
        yield piece
        now = time.perf_counter()
        if now - last_refresh > METRICS_REFRESH_S:
            with metrics_slot.container():
                stream_metrics(capture.record, running=True)
            last_refresh = now


def stream_here(prompt_text: str, endpoint) -> StreamRecord:  # noqa: ANN001
    """Stream into the page (metrics above, text below); return the record."""
    capture = StreamCapture(
        chat_model(endpoint), prompt_text, run_config("streaming", endpoint),
        secrets=secrets_of(endpoint),
    )
    metrics_slot = st.empty()
    with metrics_slot.container():
        stream_metrics(capture.record, running=True)
    with st.container(border=True, key=f"answer-{next(_answer_ids)}"):
        st.write_stream(live_stream(capture, metrics_slot))
    with metrics_slot.container():
        stream_metrics(capture.record)
    return capture.record


def render_stream_result(record: StreamRecord) -> None:
    if record.error:
        show_problem(
            record.error,
            what_was_kept=f"The {len(record.text):,} characters that arrived are kept above."
            if record.text else None,
        )
    else:
        st.caption(usage_line(record))


def render_waited(waited) -> None:  # noqa: ANN001
    if waited.error:
        show_problem(waited.error)
    else:
        with st.container(border=True):
            st.markdown(waited.text)
        st.caption(usage_line(waited))


def render_stored_stream(record: StreamRecord) -> None:
    stream_metrics(record)
    with st.container(border=True, key=f"answer-{next(_answer_ids)}"):
        st.markdown(record.text or "_(no text)_")
    render_stream_result(record)


if (stream_clicked or compare_clicked) and not prompt.strip():
    st.warning("Type a prompt first, or pick an example above.")
elif stream_clicked:
    endpoint = endpoint_or_stop()
    st.session_state.pop(LAST_COMPARISON, None)
    record = stream_here(prompt, endpoint)
    st.session_state[LAST_STREAM] = record
    render_stream_result(record)
elif compare_clicked:
    endpoint = endpoint_or_stop()
    st.session_state.pop(LAST_STREAM, None)
    wait_col, stream_col = st.columns(2)
    with wait_col:
        st.subheader("invoke(): wait for all of it")
        with st.spinner("Waiting for the whole answer… nothing to show yet."):
            waited = timed_invoke(
                chat_model(endpoint), prompt, run_config("streaming", endpoint),
                secrets=secrets_of(endpoint),
            )
        render_waited(waited)
    with stream_col:
        st.subheader("stream(): read as it arrives")
        streamed = stream_here(prompt, endpoint)
        render_stream_result(streamed)
    st.session_state[LAST_COMPARISON] = (waited, streamed)
    st.plotly_chart(stream_vs_wait_figure(waited, streamed), width="stretch")
elif LAST_STREAM in st.session_state:
    # Any widget click reruns the script: redraw the last result instead of losing it.
    render_stored_stream(st.session_state[LAST_STREAM])
elif LAST_COMPARISON in st.session_state:
    waited, streamed = st.session_state[LAST_COMPARISON]
    wait_col, stream_col = st.columns(2)
    with wait_col:
        st.subheader("invoke(): wait for all of it")
        render_waited(waited)
    with stream_col:
        st.subheader("stream(): read as it arrives")
        render_stored_stream(streamed)
    st.plotly_chart(stream_vs_wait_figure(waited, streamed), width="stretch")

code_endpoint = endpoint_for_code()
if code_endpoint is not None:
    show_code(streaming_code(current_settings(), code_endpoint, prompt))
