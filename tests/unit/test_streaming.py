"""Streaming records against the real embedded model (and fakes only for pure timing maths)."""

from __future__ import annotations

import itertools

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.call.trace import CallTrace, Outcome, StreamChunk
from core.patterns.streaming import (
    InvokeRecord,
    StreamCapture,
    StreamRecord,
    in_frames,
    text_over_time,
    timed_invoke,
)


class DroppingAfterThreeChunks(GenericFakeChatModel):
    """A fake model whose connection drops after three streamed chunks."""

    def _stream(self, *args, **kwargs):
        for i, chunk in enumerate(super()._stream(*args, **kwargs)):
            if i == 3:
                raise ConnectionError("peer closed connection")
            yield chunk


def test_stream_failure_keeps_partial_text() -> None:
    fake = DroppingAfterThreeChunks(messages=iter([AIMessage(content="one two three four five six")]))
    capture = StreamCapture(fake, "count")
    text = "".join(capture.text_chunks())
    assert text and text == capture.record.text
    assert capture.record.error is not None
    assert capture.record.error.kind == "connection"
    assert capture.record.trace.e2e_s is not None


def test_frames_pass_on_pieces_after_a_pause_and_flush_what_a_cut_stream_left() -> None:
    ticks = iter([0.0, 0.2, 0.21, 0.22])  # a pause longer than the interval, then a burst
    assert list(in_frames(["a", "b", "c", "d"], 0.05, clock=ticks.__next__)) == ["a", "b", "cd"]

    capture = StreamCapture(DroppingAfterThreeChunks(messages=iter([AIMessage(content="one two three four")])), "q")
    shown = "".join(in_frames(capture.text_chunks(), interval_s=60))  # one long frame: all pending
    assert shown and shown == capture.record.text and capture.record.error is not None


def test_unreachable_endpoint_is_recorded_not_raised() -> None:
    from core.call.models import build_chat_model, resolve_endpoint
    from core.settings import ModelSettings, Provider

    settings = ModelSettings(
        provider=Provider.COMPATIBLE, base_url="http://127.0.0.1:9/v1", model="m", max_retries=0,
        timeout_s=5,
    )
    llm = build_chat_model(settings, resolve_endpoint(settings, None))
    record = timed_invoke(llm, "hi")
    assert record.error is not None and record.error.kind == "connection"
    assert "base URL" in record.error.fix


def test_time_to_first_token_and_rate_from_a_fake_clock() -> None:
    ticks = itertools.count(0.0, 0.5)  # every clock read advances half a second
    fake = GenericFakeChatModel(messages=iter([AIMessage(content="a b c")]))
    capture = StreamCapture(fake, "p", clock=lambda: next(ticks))
    list(capture.text_chunks())
    record = capture.record
    # Reads: the runner's start (0.0), LangChain's run start (0.5), then one per chunk. Time to
    # first token counts from the runner's start, so LangChain's own setup is inside it.
    assert record.trace.ttft_s == 1.0
    assert list(record.trace.text_times_s) == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert record.trace is not None and record.trace.rel(record.trace.lc_start) == 0.5
    # No usage reported by the fake: the rate falls back to counting text chunks.
    assert record.trace.output_tokens_per_s == pytest.approx(4 / 2.0)


def test_text_over_time_shows_stream_ramp_and_invoke_step() -> None:
    streamed = StreamRecord("p", CallTrace("r", origin=0.0, finished=0.4, chunks=[StreamChunk(0.1, "ab"), StreamChunk(0.3, "cde")]))
    assert text_over_time(streamed) == [(0.0, 0), (0.1, 0), (0.1, 2), (0.3, 2), (0.3, 5), (0.4, 5)]
    waited = InvokeRecord("p", CallTrace("r", origin=0.0, finished=0.4, outcome=Outcome("complete", "abcde")))
    assert text_over_time(waited)[-1] == (0.4, 5)
    assert text_over_time(waited)[-2] == (0.4, 0)


def test_frames_slow_down_after_the_first_second_but_show_every_piece() -> None:
    # Tokens every 10 ms for 3 s: 20 frames a second during the first second, then 5.
    times = [i * 0.01 for i in range(301)]
    ticks = iter(times)
    pieces = [f"{i} " for i in range(301)]
    frames = list(in_frames(pieces, 0.05, later_interval_s=0.2, fast_for_s=1.0, clock=ticks.__next__))
    assert "".join(frames) == "".join(pieces)
    assert 18 <= len(frames) <= 32  # ~20 in the first second + ~10 in the next two
    assert len(list(in_frames(pieces, 0.05, later_interval_s=None, clock=iter(times).__next__))) > 55
