"""Async timing records: worked numbers for the maths, the real embedded model for the runners.

Overlap and ordering are structural here (what can be in flight at once), never durations: the
machine is shared, so no test asserts how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from core.call.models import build_chat_model, resolve_endpoint
from core.call.run import Run
from core.call.trace import CallTrace, Outcome, StreamChunk
from core.patterns.concurrency import (
    CallSpan,
    Mode,
    ModeRun,
    overlaps,
    run_abatch,
    run_mode,
    setup_key,
    speedup,
)
from core.settings import ModelSettings, Provider

QUESTIONS = ["What is AI?", "What is ML?", "What is DL?"]


def span(index: int, start: float, end: float | None, first: float | None = None) -> CallSpan:
    """A call on the mode's timeline (zero at 0.0): LangChain started it at `start`, ended it at
    `end` (None: still running), its first text at `first` (None: not streamed)."""
    trace = CallTrace(f"r{index}", origin=start, lc_start=start, lc_end=end,
                      chunks=[StreamChunk(first, "tok")] if first is not None else [],
                      outcome=Outcome("complete") if end is not None else None)
    return CallSpan(index, f"q{index}", trace)


# --- worked numbers --------------------------------------------------------------------------


def test_sequential_worked_example_has_no_overlap_and_wall_equals_sum() -> None:
    run = ModeRun(Mode.SEQUENTIAL, [span(0, 0.0, 1.0), span(1, 1.0, 2.5), span(2, 2.5, 3.0)], wall_s=3.0)
    assert run.peak_in_flight == 1 and not run.overlapped  # touching ends are not overlap
    assert run.run.sum_e2e_s == pytest.approx(3.0)
    assert run.run.mean_e2e_s == pytest.approx(1.0)
    assert run.run.average_in_flight == pytest.approx(1.0)


def test_gather_worked_example_overlaps_and_is_twice_as_fast() -> None:
    sequential = ModeRun(Mode.SEQUENTIAL, [span(0, 0.0, 1.0), span(1, 1.0, 2.5), span(2, 2.5, 3.0)],
                         wall_s=3.0, setup="k")
    gathered = ModeRun(Mode.GATHER, [span(0, 0.0, 1.2), span(1, 0.0, 1.5), span(2, 0.01, 1.1)],
                       wall_s=1.5, setup="k")
    assert gathered.peak_in_flight == 3 and gathered.overlapped
    assert gathered.run.sum_e2e_s == pytest.approx(1.2 + 1.5 + 1.09)
    # 3.79 s of calls in 1.5 s of wall time: about 2.5 calls in flight on average.
    assert gathered.run.average_in_flight == pytest.approx(3.79 / 1.5)
    assert gathered.speedup_over(sequential) == pytest.approx(2.0)
    # Each call took longer than in the loop (they shared the machine), yet the whole was faster.
    assert gathered.run.mean_e2e_s > sequential.run.mean_e2e_s


def test_abatch_staircase_never_exceeds_its_limit() -> None:
    calls = [span(0, 0.0, 1.0), span(1, 0.0, 0.8), span(2, 0.8, 1.9), span(3, 1.0, 2.0)]
    assert Run.of(c.trace for c in calls if c.trace).peak_in_flight == 2
    assert overlaps(calls[0], calls[1]) and not overlaps(calls[1], calls[2])


def test_speedup_is_only_given_for_the_same_setup_and_finished_runs() -> None:
    key = setup_key(QUESTIONS, "local|64")
    sequential = ModeRun(Mode.SEQUENTIAL, [], wall_s=4.0, setup=key)
    assert ModeRun(Mode.GATHER, [], wall_s=1.0, setup=key).speedup_over(sequential) == 4.0
    assert ModeRun(Mode.GATHER, [], wall_s=1.0, setup=setup_key(QUESTIONS[:2], "local|64")).speedup_over(sequential) is None
    assert ModeRun(Mode.GATHER, [], wall_s=None, setup=key).speedup_over(sequential) is None
    assert ModeRun(Mode.GATHER, [], wall_s=1.0, setup=key).speedup_over(None) is None
    assert speedup(2.0, 4.0) == 0.5  # slower than sequential shows as below 1


def test_unfinished_and_unstreamed_calls_are_not_counted_or_faked() -> None:
    running = span(0, 0.2, None)
    assert running.trace.e2e_s is None and Run.of([running.trace, span(1, 0.0, 1.0).trace]).sum_e2e_s == 1.0
    assert span(2, 0.0, 1.0).trace.ttft_s is None  # whole answer at once: not observed
    assert span(3, 0.5, 2.0, first=0.75).trace.ttft_s == pytest.approx(0.25)


# --- a latency-bound fake, for failures and structure without the CPU ----------------------------


class SleepyChat(BaseChatModel):
    """Answers after an (async) sleep — a stand-in for a remote API; fails on prompts with 'fail'."""

    delay_s: float = 0.05

    @property
    def _llm_type(self) -> str:
        return "sleepy"

    def _reply(self, messages: list[BaseMessage]) -> str:
        prompt = str(messages[-1].content)
        if "fail" in prompt:
            raise ConnectionError("peer closed connection")
        return f"answer to {prompt}"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._reply(messages)))])

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        await asyncio.sleep(self.delay_s)
        return self._generate(messages)

    async def _astream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                       **kw: Any) -> AsyncIterator[ChatGenerationChunk]:
        words = f"answer to {messages[-1].content}".split()
        for i, word in enumerate(words):
            await asyncio.sleep(self.delay_s / 4)
            if i == 2 and "fail" in str(messages[-1].content):
                raise ConnectionError("peer closed connection")
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))


@pytest.mark.parametrize("mode", list(Mode))
def test_a_failed_call_is_recorded_and_the_others_are_kept(mode: Mode) -> None:
    prompts = ["one", "please fail", "three"]
    run = run_mode(mode, prompts, lambda **_: SleepyChat())
    assert [c.ok for c in run.calls] == [True, False, True]
    assert run.calls[1].error.kind == "connection"
    assert run.calls[0].text.strip() == "answer to one" and run.calls[2].text.strip() == "answer to three"
    assert all(c.finished for c in run.calls) and run.wall_s is not None
    if mode is Mode.ASTREAM:
        assert run.calls[1].text == "answer to "  # the words that arrived before the cut


def test_abatch_limit_holds_with_more_calls_than_slots() -> None:
    run = asyncio.run(run_abatch(SleepyChat(), [f"q{i}" for i in range(5)], max_concurrency=2))
    assert run.peak_in_flight == 2 and run.max_concurrency == 2
    # The third call can only start once one of the first two has ended.
    first_end = min(run.calls[0].end_s, run.calls[1].end_s)
    assert run.calls[2].start_s >= first_end


def test_progress_reports_come_from_the_calling_thread() -> None:
    import threading

    seen: list[tuple[int, int]] = []
    caller = threading.get_ident()

    def on_progress(run: ModeRun) -> None:
        seen.append((threading.get_ident(), sum(c.finished for c in run.calls)))

    chunks: list[int] = []
    run_mode(Mode.ASTREAM, ["a", "b"], lambda **_: SleepyChat(delay_s=0.5), on_progress=on_progress,
             on_chunk=lambda i, text: chunks.append(threading.get_ident()))
    assert seen and {t for t, _ in seen} == {caller}
    assert chunks and set(chunks) == {caller}


def test_a_streamlit_stop_is_not_swallowed_as_a_failed_call() -> None:
    class ScriptStopped(BaseException):  # what Streamlit raises on the script thread to stop a run
        pass

    def stop(index: int, text: str) -> None:
        raise ScriptStopped

    with pytest.raises(ScriptStopped):
        run_mode(Mode.ASTREAM, ["a", "b"], lambda **_: SleepyChat(), on_chunk=stop)


# --- the real embedded model -------------------------------------------------------------------


def test_unreachable_endpoint_fails_every_call_without_raising() -> None:
    settings = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://127.0.0.1:9/v1", model="m",
                             max_retries=0, timeout_s=5)
    endpoint = resolve_endpoint(settings, None)
    run = run_mode(Mode.GATHER, QUESTIONS[:2], lambda **o: build_chat_model(settings, endpoint, **o))
    assert [c.error.kind for c in run.calls] == ["connection", "connection"]
    assert all(c.finished for c in run.calls) and run.wall_s is not None


def test_a_stop_during_progress_cancels_the_calls_in_flight() -> None:
    class ScriptStopped(BaseException):
        pass

    runs: list[ModeRun] = []

    def stop(run: ModeRun) -> None:
        runs.append(run)
        raise ScriptStopped

    with pytest.raises(ScriptStopped):
        run_mode(Mode.GATHER, ["a", "b"], lambda **_: SleepyChat(delay_s=5), on_progress=stop)
    assert runs and not any(c.finished and c.ok for c in runs[0].calls)  # stopped, not waited out
