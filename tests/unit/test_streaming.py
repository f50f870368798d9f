"""Streaming records against the real embedded model (and fakes only for pure timing maths)."""

from __future__ import annotations

import itertools

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.ledger import SessionLedger
from core.streaming import (
    ChunkArrival,
    InvokeRecord,
    StreamCapture,
    StreamRecord,
    in_frames,
    text_over_time,
    timed_invoke,
)


class DroppingAfterThreeChunks(GenericFakeChatModel):
    """A fake model whose connection drops after three streamed chunks."""

    def _stream(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        for i, chunk in enumerate(super()._stream(*args, **kwargs)):
            if i == 3:
                raise ConnectionError("peer closed connection")
            yield chunk


def test_stream_records_chunks_in_arrival_order_with_usage(local_llm) -> None:  # noqa: ANN001
    capture = StreamCapture(local_llm, "Count from one to five.")
    pieces = list(capture.text_chunks())
    record = capture.record
    assert record.ok
    assert len(pieces) > 3 and "".join(pieces) == record.text
    times = [c.at_s for c in record.chunks]
    assert times == sorted(times)
    assert 0 < record.time_to_first_token_s <= record.total_s
    # Usage arrives in a final chunk with no text: it must be captured, not skipped.
    assert record.usage is not None and record.usage.output_tokens > 0
    assert record.chunk_count_all > record.chunk_count
    assert record.finish_reason in ("stop", "length")
    assert record.tokens_per_second and record.tokens_per_second > 1


def test_max_tokens_cut_gives_finish_reason_length(local_llm) -> None:  # noqa: ANN001
    short = local_llm.bind(max_tokens=3)
    capture = StreamCapture(short, "Write a long essay about the sea.")
    list(capture.text_chunks())
    assert capture.record.finish_reason == "length"
    assert capture.record.usage.output_tokens == 3


def test_invoke_and_stream_give_the_same_text_at_temperature_zero(local_llm) -> None:  # noqa: ANN001
    waited = timed_invoke(local_llm, "What is the capital of France?")
    capture = StreamCapture(local_llm, "What is the capital of France?")
    list(capture.text_chunks())
    assert waited.ok and waited.text == capture.record.text
    assert waited.usage.output_tokens == capture.record.usage.output_tokens


def test_stream_failure_keeps_partial_text() -> None:
    fake = DroppingAfterThreeChunks(messages=iter([AIMessage(content="one two three four five six")]))
    capture = StreamCapture(fake, "count")
    text = "".join(capture.text_chunks())
    assert text and text == capture.record.text
    assert capture.record.error is not None
    assert capture.record.error.kind == "connection"
    assert capture.record.total_s is not None


def test_frames_show_every_piece_in_order_and_keep_per_token_timings(local_llm) -> None:  # noqa: ANN001
    capture = StreamCapture(local_llm, "Count from 1 to 20, separated by commas.")
    frames = list(in_frames(capture.text_chunks()))
    # What the page shows is exactly what arrived, in order; the first frame is the first token.
    assert "".join(frames) == capture.record.text
    assert frames[0] == capture.record.chunks[0].text
    # Grouping is for the screen only: the record still has one stamp per token.
    assert len(frames) <= capture.record.chunk_count
    assert capture.record.tokens_per_second is not None


def test_frames_pass_on_pieces_after_a_pause_and_flush_what_a_cut_stream_left() -> None:
    ticks = iter([0.0, 0.2, 0.21, 0.22])  # a pause longer than the interval, then a burst
    clock = lambda: next(ticks)  # noqa: E731
    assert list(in_frames(["a", "b", "c", "d"], 0.05, clock=clock)) == ["a", "b", "cd"]

    capture = StreamCapture(DroppingAfterThreeChunks(messages=iter([AIMessage(content="one two three four")])), "q")
    shown = "".join(in_frames(capture.text_chunks(), interval_s=60))  # one long frame: all pending
    assert shown and shown == capture.record.text and capture.record.error is not None


def test_unreachable_endpoint_is_recorded_not_raised() -> None:
    from core.models import build_chat_model, resolve_endpoint
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
    assert record.time_to_first_token_s == 1.0
    assert [c.at_s for c in record.chunks] == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert record.trace is not None and record.trace.rel(record.trace.lc_start) == 0.5
    # No usage reported by the fake: the rate falls back to counting text chunks.
    assert record.tokens_per_second == pytest.approx(4 / 2.0)


def test_text_over_time_shows_stream_ramp_and_invoke_step() -> None:
    streamed = StreamRecord(prompt="p", chunks=[ChunkArrival(0.1, "ab"), ChunkArrival(0.3, "cde")], total_s=0.4)
    assert text_over_time(streamed) == [(0.0, 0), (0.1, 0), (0.1, 2), (0.3, 2), (0.3, 5), (0.4, 5)]
    waited = InvokeRecord(prompt="p", text="abcde", total_s=0.4)
    assert text_over_time(waited)[-1] == (0.4, 5)
    assert text_over_time(waited)[-2] == (0.4, 0)


def test_streamed_calls_reach_the_ledger_with_usage(local_llm) -> None:  # noqa: ANN001
    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="streaming", provider="Local")]}
    capture = StreamCapture(local_llm, "Name a colour.", config)
    list(capture.text_chunks())
    (record,) = ledger.records()
    assert record.pattern == "streaming"
    assert record.usage is not None and record.usage == capture.record.usage
    assert record.model == "SmolLM2-135M-Instruct"
