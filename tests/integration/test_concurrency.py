"""Async timing records: worked numbers for the maths, the real embedded model for the runners.

Overlap and ordering are structural here (what can be in flight at once), never durations: the
machine is shared, so no test asserts how long anything took.
"""

from __future__ import annotations

import pytest

from core.call.models import build_chat_model
from core.money.ledger import SessionLedger
from core.patterns.concurrency import (
    Mode,
    run_mode,
    setup_key,
)
from core.settings import ModelSettings

QUESTIONS = ["What is AI?", "What is ML?", "What is DL?"]


@pytest.fixture
def build_local(local_settings: ModelSettings, local_endpoint):
    """`build_llm` for run_mode: a fresh ChatOpenAI per action, no retries to hide errors."""
    settings = local_settings.with_changes(max_tokens=16, max_retries=0)
    return lambda **overrides: build_chat_model(settings, local_endpoint, **overrides)


def test_sequential_calls_follow_each_other_and_gather_overlaps(build_local) -> None:
    key = setup_key(QUESTIONS, "local")
    sequential = run_mode(Mode.SEQUENTIAL, QUESTIONS, build_local, setup=key)
    gathered = run_mode(Mode.GATHER, QUESTIONS, build_local, setup=key)
    for run in (sequential, gathered):
        assert all(c.ok and c.text and c.usage and c.usage.output_tokens > 0 for c in run.calls)
        assert all(c.first_text_s is None for c in run.calls)  # invoke/ainvoke: one response
        assert all(0 <= c.start_s < c.end_s <= run.wall_s for c in run.calls)
    # Sequential: each call starts after the previous one ended.
    assert all(b.start_s >= a.end_s for a, b in zip(sequential.calls, sequential.calls[1:], strict=False))
    assert sequential.peak_in_flight == 1
    # gather: every call is sent before any answer can come back.
    assert gathered.peak_in_flight == len(QUESTIONS)
    assert max(c.start_s for c in gathered.calls) < min(c.end_s for c in gathered.calls)
    assert gathered.speedup_over(sequential) == pytest.approx(sequential.wall_s / gathered.wall_s)


def test_abatch_respects_max_concurrency_against_the_real_server(build_local) -> None:
    prompts = [*QUESTIONS, "What is NLP?"]
    run = run_mode(Mode.ABATCH, prompts, build_local, max_concurrency=2)
    assert all(c.ok for c in run.calls)
    assert run.peak_in_flight == 2


def test_astream_streams_interleave_and_first_token_is_inside_each_call(build_local) -> None:
    arrivals: list[int] = []
    run = run_mode(Mode.ASTREAM, QUESTIONS[:2], build_local, on_chunk=lambda i, _: arrivals.append(i))
    for call in run.calls:
        assert call.ok and call.usage is not None
        assert call.start_s < call.first_text_s <= call.end_s
        assert call.text_times_s == sorted(call.text_times_s)
        assert call.first_text_s == call.text_times_s[0]
    # Interleaved: stream 1 delivered tokens before stream 0 had finished, and vice versa.
    assert arrivals.index(1) < len(arrivals) - 1 - arrivals[::-1].index(0)
    assert run.overlapped


def test_repeated_actions_each_in_a_new_event_loop_never_hit_a_closed_loop(build_local) -> None:
    # With the process-wide cached async client, every second asyncio.run failed here with
    # "Event loop is closed" (max_retries=0, so no retry hides it).
    for mode in (Mode.GATHER, Mode.ASTREAM, Mode.GATHER, Mode.ABATCH, Mode.GATHER):
        run = run_mode(mode, QUESTIONS[:2], build_local)
        assert not run.failures, [c.error for c in run.failures]


def test_every_call_lands_in_the_ledger(build_local, local_endpoint) -> None:
    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="async", provider="Local")], "tags": ["lab:async"]}
    for mode in (Mode.SEQUENTIAL, Mode.ABATCH, Mode.ASTREAM):
        run_mode(mode, QUESTIONS[:2], build_local, config=config)
    records = ledger.records()
    assert len(records) == 6 and {r.pattern for r in records} == {"async"}
    assert all(r.usage is not None for r in records)
