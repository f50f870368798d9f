"""Streaming records against the real embedded model (and fakes only for pure timing maths)."""

from __future__ import annotations

from core.money.ledger import SessionLedger
from core.patterns.streaming import (
    StreamCapture,
    in_frames,
    timed_invoke,
)


def test_stream_records_chunks_in_arrival_order_with_usage(local_llm) -> None:
    capture = StreamCapture(local_llm, "Count from one to five.")
    pieces = list(capture.text_chunks())
    record = capture.record
    assert record.ok
    assert len(pieces) > 3 and "".join(pieces) == record.text
    times = list(record.trace.text_times_s)
    assert times == sorted(times)
    assert 0 < record.trace.ttft_s <= record.trace.e2e_s
    # Usage arrives in a final chunk with no text: it must be captured, not skipped.
    assert record.usage is not None and record.usage.output_tokens > 0
    assert record.chunk_count_all > record.chunk_count
    assert record.finish_reason in ("stop", "length")
    assert record.trace.output_tokens_per_s and record.trace.output_tokens_per_s > 1


def test_max_tokens_cut_gives_finish_reason_length(local_llm) -> None:
    short = local_llm.bind(max_tokens=3)
    capture = StreamCapture(short, "Write a long essay about the sea.")
    list(capture.text_chunks())
    assert capture.record.finish_reason == "length"
    assert capture.record.usage.output_tokens == 3


def test_invoke_and_stream_give_the_same_text_at_temperature_zero(local_llm) -> None:
    waited = timed_invoke(local_llm, "What is the capital of France?")
    capture = StreamCapture(local_llm, "What is the capital of France?")
    list(capture.text_chunks())
    assert waited.ok and waited.text == capture.record.text
    assert waited.usage.output_tokens == capture.record.usage.output_tokens


def test_frames_show_every_piece_in_order_and_keep_per_token_timings(local_llm) -> None:
    capture = StreamCapture(local_llm, "Count from 1 to 20, separated by commas.")
    frames = list(in_frames(capture.text_chunks()))
    # What the page shows is exactly what arrived, in order; the first frame is the first token.
    assert "".join(frames) == capture.record.text
    assert frames[0] == capture.record.trace.text_chunks[0].text
    # Grouping is for the screen only: the record still has one stamp per token.
    assert len(frames) <= capture.record.chunk_count
    assert capture.record.trace.output_tokens_per_s is not None


def test_streamed_calls_reach_the_ledger_with_usage(local_llm) -> None:
    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="streaming", provider="Local")]}
    capture = StreamCapture(local_llm, "Name a colour.", config)
    list(capture.text_chunks())
    (record,) = ledger.records()
    assert record.pattern == "streaming"
    assert record.usage is not None and record.usage == capture.record.usage
    assert record.model == "SmolLM2-135M-Instruct"
