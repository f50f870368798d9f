"""Async concurrency: the same questions asked four ways, each call timed on one shared clock.

The modes:

* ``sequential`` — ``llm.invoke`` in a loop: each call waits for the one before.
* ``gather`` — ``asyncio.gather(*(llm.ainvoke(q) ...), return_exceptions=True)``: all at once.
* ``abatch`` — ``llm.abatch(questions, config={"max_concurrency": n}, return_exceptions=True)``:
  at most ``n`` in flight; the rest wait their turn client-side.
* ``astream`` — several ``llm.astream`` at once; their tokens arrive interleaved.

Every call gets a `CallSpan`: start, first token and end, in seconds since the mode began, read
from the call's `CallTrace` (the one timing callback, `core.tracing.CallTracer`). Start and end
are LangChain's own (``on_chat_model_start`` / ``on_llm_end``), so a call that waits for an
``abatch`` slot starts when it really starts, not when it was queued. The
*first token* is only known when the answer is streamed: ``invoke``/``ainvoke``/``abatch`` get
the whole answer in one response, so their first token is not observed (``None``) rather than
faked by streaming under the hood — that would change the request the mode is about.

Event loops: langchain-openai (1.7.x) shares one ``httpx.AsyncClient`` per process between every
``ChatOpenAI`` with the same base URL and timeout (an ``lru_cache``). Its pooled connections
belong to the event loop that opened them, so the next ``asyncio.run`` — a Streamlit page makes
one per click — fails with "Event loop is closed" (hidden by retries, which re-send the request).
`run_mode` therefore gives each action its own loop *and* its own HTTP client, closed with it
(`core.bridge.run_async`, the one sync→async bridge).
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from core.bridge import run_async
from core.errors import CallProblem, explain_error
from core.otel import run_group
from core.trace import CallTrace
from core.tracing import ensure_tracer, message_text, outcome_of
from core.usage import Usage

Clock = Callable[[], float]
T = TypeVar("T")

#: How often the async runners report progress (`on_progress`) while calls are in flight.
PROGRESS_EVERY_S = 0.2


class Mode(str, enum.Enum):
    """The four ways to ask several questions."""

    SEQUENTIAL = "sequential"
    GATHER = "gather"
    ABATCH = "abatch"
    ASTREAM = "astream"

    @property
    def label(self) -> str:
        """The call pattern, as code."""
        return {
            Mode.SEQUENTIAL: "invoke() in a loop",
            Mode.GATHER: "ainvoke() + asyncio.gather",
            Mode.ABATCH: "abatch(max_concurrency=n)",
            Mode.ASTREAM: "astream() × n at once",
        }[self]

    @property
    def streams(self) -> bool:
        """Whether the answer arrives token by token (so a first token can be observed)."""
        return self is Mode.ASTREAM


@dataclass
class CallSpan:
    """One call of a mode, timed relative to the mode's start.

    Attributes:
        index: position of the question in the list.
        prompt: the question.
        start_s: when LangChain started the model call (``on_chat_model_start``).
        first_token_s: when the first text token arrived; None when the mode does not stream
            (the answer comes whole at ``end_s``) or no text arrived.
        end_s: when the call finished or failed.
        token_times_s: arrival time of every text chunk (streaming modes only).
        text: the answer (for a stream that failed midway, what arrived).
        usage: token counts, or None when not reported.
        finish_reason: "stop", "length", ... or None.
        error: the failure, explained; None when the call succeeded (a stream that ended
            without a finish reason is kind "incomplete", its text kept).
        trace: the call's `CallTrace` (HTTP marks, server and proxy reports).
    """

    index: int
    prompt: str
    start_s: float | None = None
    first_token_s: float | None = None
    end_s: float | None = None
    token_times_s: list[float] = field(default_factory=list)
    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    error: CallProblem | None = None
    trace: CallTrace | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def finished(self) -> bool:
        return self.end_s is not None

    @property
    def latency_s(self) -> float | None:
        """End minus start: how long this one call took, as its caller experienced it.

        Example:
            >>> CallSpan(0, "q", start_s=0.5, end_s=2.0).latency_s
            1.5
        """
        if self.start_s is None or self.end_s is None:
            return None
        return self.end_s - self.start_s

    @property
    def time_to_first_token_s(self) -> float | None:
        """First token minus start; None when not observed (non-streaming modes)."""
        if self.start_s is None or self.first_token_s is None:
            return None
        return self.first_token_s - self.start_s


# --- pure timing maths -------------------------------------------------------------------------


def sum_of_latencies(spans: Iterable[CallSpan]) -> float:
    """Total of every finished call's latency: the time the calls would take one after another.

    Example:
        >>> sum_of_latencies([CallSpan(0, "a", 0.0, end_s=1.0), CallSpan(1, "b", 0.2, end_s=1.7)])
        2.5
    """
    return sum(s.latency_s for s in spans if s.latency_s is not None)


def overlaps(a: CallSpan, b: CallSpan) -> bool:
    """Whether two calls were in flight at the same moment (touching ends do not count).

    Example:
        >>> overlaps(CallSpan(0, "a", 0.0, end_s=1.0), CallSpan(1, "b", 0.5, end_s=2.0))
        True
        >>> overlaps(CallSpan(0, "a", 0.0, end_s=1.0), CallSpan(1, "b", 1.0, end_s=2.0))
        False
    """
    if None in (a.start_s, a.end_s, b.start_s, b.end_s):
        return False
    return a.start_s < b.end_s and b.start_s < a.end_s  # type: ignore[operator]  # `None in` does not narrow


def peak_in_flight(spans: Iterable[CallSpan]) -> int:
    """The most calls in flight at any one moment (1 for a sequential loop).

    A sweep over start (+1) and end (−1) events; at equal times ends count first, so a call
    starting exactly when another ends is not an overlap.

    Example:
        >>> calls = [CallSpan(0, "a", 0.0, end_s=1.0), CallSpan(1, "b", 0.1, end_s=0.6),
        ...          CallSpan(2, "c", 0.2, end_s=0.5), CallSpan(3, "d", 1.0, end_s=1.4)]
        >>> peak_in_flight(calls)
        3
    """
    events: list[tuple[float, int]] = []
    for span in spans:
        if span.start_s is not None and span.end_s is not None:
            events += [(span.start_s, 1), (span.end_s, -1)]
    events.sort()  # (t, -1) sorts before (t, +1): ends first at ties
    peak = current = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def speedup(baseline_wall_s: float | None, wall_s: float | None) -> float | None:
    """How many times faster than the baseline (sequential) run; None when unknown.

    Example:
        >>> speedup(6.0, 2.0)
        3.0
        >>> speedup(6.0, 0.0) is None
        True
    """
    if baseline_wall_s is None or wall_s is None or wall_s <= 0:
        return None
    return baseline_wall_s / wall_s


def setup_key(prompts: Sequence[str], context: str = "") -> str:
    """What two runs must share for their times to be compared: questions and context.

    Example:
        >>> setup_key(["a", "b"], "local|64") == setup_key(["a", "b"], "local|64")
        True
        >>> setup_key(["a", "b"], "local|64") == setup_key(["a"], "local|64")
        False
    """
    return context + "\x1f" + "\x1e".join(prompts)


@dataclass
class ModeRun:
    """One mode run over a list of questions.

    Attributes:
        mode: which pattern ran.
        calls: one `CallSpan` per question, in question order.
        wall_s: the mode's start to its last call's end (None while running).
        max_concurrency: the abatch limit, when the mode has one.
        setup: `setup_key` of the run; speed-ups only compare runs with the same setup.
        situation: a label for where the calls went (e.g. embedded vs. simulated remote).
    """

    mode: Mode
    calls: list[CallSpan]
    wall_s: float | None = None
    max_concurrency: int | None = None
    setup: str = ""
    situation: str = ""

    @property
    def sum_latency_s(self) -> float:
        return sum_of_latencies(self.calls)

    @property
    def mean_latency_s(self) -> float | None:
        """Average latency of the finished calls: it grows when calls compete for the CPU."""
        finished = [s for s in self.calls if s.latency_s is not None]
        return self.sum_latency_s / len(finished) if finished else None

    @property
    def peak_in_flight(self) -> int:
        return peak_in_flight(self.calls)

    @property
    def overlapped(self) -> bool:
        """Whether any two calls were in flight at once."""
        return self.peak_in_flight >= 2

    @property
    def average_in_flight(self) -> float | None:
        """Sum of latencies over wall time: how many calls were in flight on average.

        Example:
            >>> run = ModeRun(Mode.GATHER, [CallSpan(0, "a", 0.0, end_s=2.0),
            ...                             CallSpan(1, "b", 0.0, end_s=2.0)], wall_s=2.0)
            >>> run.average_in_flight
            2.0
        """
        if not self.wall_s:
            return None
        return self.sum_latency_s / self.wall_s

    @property
    def failures(self) -> list[CallSpan]:
        return [s for s in self.calls if s.error is not None]

    def speedup_over(self, baseline: ModeRun | None) -> float | None:
        """Wall-time speed-up over `baseline`; None unless both ran the same setup and finished.

        Example:
            >>> seq = ModeRun(Mode.SEQUENTIAL, [], wall_s=3.0, setup="k")
            >>> ModeRun(Mode.GATHER, [], wall_s=1.5, setup="k").speedup_over(seq)
            2.0
            >>> ModeRun(Mode.GATHER, [], wall_s=1.5, setup="other").speedup_over(seq) is None
            True
        """
        if baseline is None or baseline.setup != self.setup:
            return None
        return speedup(baseline.wall_s, self.wall_s)


# --- timing: one tracer, read into spans -------------------------------------------------------


class _Calls:
    """The runner's side of the tracer: one ``run_id`` per question, and spans kept in sync."""

    def __init__(self, run: ModeRun, config: RunnableConfig | None, secrets: tuple[str, ...], clock: Clock) -> None:
        self.run = run
        self.config, self.tracer = ensure_tracer(config, secrets=secrets, clock=clock)
        self.secrets = secrets + self.tracer.secrets
        self.started = clock()
        self.clock = clock
        self.run_ids: dict[int, UUID] = {}

    def config_for(self, span: CallSpan, **extra: Any) -> RunnableConfig:
        """The config of one call: the base, a ``call:i`` tag, and its own run id."""
        run_id = self.run_ids.setdefault(span.index, uuid.uuid4())
        return merge_configs(self.config, {"tags": [f"call:{span.index}"], "run_id": run_id, **extra})  # type: ignore[arg-type]  # extra: RunnableConfig keys

    def now(self) -> float:
        return self.clock() - self.started

    def sync(self) -> ModeRun:
        """Copy every call's trace into its span (start, tokens, end, outcome)."""
        for span in self.run.calls:
            run_id = self.run_ids.get(span.index)
            trace = self.tracer.trace(run_id) if run_id is not None else None
            if trace is not None:
                _sync_span(span, trace, self.started, streams=self.run.mode.streams)
        return self.run

    def failed(self, span: CallSpan, exc: BaseException) -> None:
        if not isinstance(exc, Exception):
            # Not a failed call: Streamlit stopping the script, Ctrl-C, cancellation. Let it go on.
            raise exc
        run_id = self.run_ids.get(span.index)
        trace = self.tracer.trace(run_id) if run_id is not None else None
        if trace is not None:
            _sync_span(span, trace, self.started, streams=self.run.mode.streams)
        span.error = explain_error(exc, *self.secrets, evidence=trace.attempt if trace else None)
        if trace is not None and trace.outcome is not None:
            trace.outcome.problem = span.error
        if span.end_s is None:
            span.end_s = self.now()
        if span.start_s is None:  # failed before the model call began (no start event)
            span.start_s = span.end_s


def _sync_span(span: CallSpan, trace: CallTrace, started: float, *, streams: bool) -> None:
    span.trace = trace
    if trace.lc_start is not None:
        span.start_s = trace.lc_start - started
    if streams:
        times = [c.at - started for c in trace.chunks if c.text]
        span.token_times_s = times
        span.first_token_s = times[0] if times else None
    if trace.lc_end is not None:
        span.end_s = trace.lc_end - started
    outcome = trace.outcome
    if outcome is not None:
        if outcome.text and not span.text:
            span.text = outcome.text
        span.usage = outcome.usage
        span.finish_reason = outcome.finish_reason
        if outcome.problem is not None:
            span.error = outcome.problem


def _new_run(mode: Mode, prompts: Sequence[str], setup: str, **kwargs: Any) -> ModeRun:
    return ModeRun(
        mode=mode, calls=[CallSpan(i, p) for i, p in enumerate(prompts)], setup=setup, **kwargs
    )


def _fill_from_message(span: CallSpan, message: BaseMessage) -> None:
    """For a call the tracer did not see (a model without callbacks): read the message itself."""
    outcome = outcome_of(message)
    if not span.text:
        span.text = outcome.text
    span.usage = outcome.usage
    span.finish_reason = outcome.finish_reason


async def _with_progress(
    work: Awaitable[T], calls: _Calls, on_progress: Callable[[ModeRun], None] | None, every_s: float
) -> T:
    """Await `work`, calling `on_progress(run)` every `every_s` seconds on this loop's thread."""
    if on_progress is None:
        return await work
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                return task.result()
            on_progress(calls.sync())
    finally:
        if not task.done():  # on_progress raised (e.g. the script was stopped): stop the calls
            task.cancel()
            # Let them unwind while their HTTP client is still open.
            await asyncio.gather(task, return_exceptions=True)


# --- the four runners ------------------------------------------------------------------------


def run_sequential(
    llm: BaseChatModel,
    prompts: Sequence[str],
    config: RunnableConfig | None = None,
    *,
    setup: str = "",
    secrets: tuple[str, ...] = (),
    on_progress: Callable[[ModeRun], None] | None = None,
    clock: Clock = time.perf_counter,
) -> ModeRun:
    """``llm.invoke`` each question in turn; a failed call is recorded and the loop goes on.

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> run = run_sequential(FakeListChatModel(responses=["A", "B"]), ["q1", "q2"])
        >>> [c.text for c in run.calls], run.overlapped
        (['A', 'B'], False)
    """
    run = _new_run(Mode.SEQUENTIAL, prompts, setup)
    calls = _Calls(run, config, secrets, clock)
    for span in run.calls:
        try:
            _fill_from_message(span, llm.invoke(span.prompt, config=calls.config_for(span)))
        except Exception as exc:  # the next question still runs
            calls.failed(span, exc)
        calls.sync()
        if on_progress is not None:
            on_progress(run)
    run.wall_s = calls.now()
    return run


async def _collect(
    calls: _Calls,
    work: Awaitable[list[Any]],
    *,
    on_progress: Callable[[ModeRun], None] | None,
) -> ModeRun:
    """Await every call (reporting progress meanwhile), then file each answer or failure.

    `work` returns one result per question, in order, exceptions included (gather and abatch
    with `return_exceptions=True`): one failure never throws away the answers that arrived.
    """
    results = await _with_progress(work, calls, on_progress, PROGRESS_EVERY_S)
    run = calls.run
    now = calls.now()
    for span, result in zip(run.calls, results, strict=True):
        if isinstance(result, BaseException):
            calls.failed(span, result)
        else:
            _fill_from_message(span, result)
    calls.sync()
    run.wall_s = now
    return run


async def run_gather(
    llm: BaseChatModel,
    prompts: Sequence[str],
    config: RunnableConfig | None = None,
    *,
    setup: str = "",
    secrets: tuple[str, ...] = (),
    on_progress: Callable[[ModeRun], None] | None = None,
    clock: Clock = time.perf_counter,
) -> ModeRun:
    """``asyncio.gather`` over one ``llm.ainvoke`` per question, all started at once.

    Example:
        >>> import asyncio
        >>> from langchain_core.language_models import FakeListChatModel
        >>> run = asyncio.run(run_gather(FakeListChatModel(responses=["A", "B"]), ["q1", "q2"]))
        >>> sorted(c.text for c in run.calls), run.wall_s is not None
        (['A', 'B'], True)
    """
    run = _new_run(Mode.GATHER, prompts, setup)
    calls = _Calls(run, config, secrets, clock)
    work = asyncio.gather(
        *(llm.ainvoke(span.prompt, config=calls.config_for(span)) for span in run.calls),
        return_exceptions=True,  # one failure must not throw away the answers that arrived
    )
    return await _collect(calls, work, on_progress=on_progress)


async def run_abatch(
    llm: BaseChatModel,
    prompts: Sequence[str],
    max_concurrency: int,
    config: RunnableConfig | None = None,
    *,
    setup: str = "",
    secrets: tuple[str, ...] = (),
    on_progress: Callable[[ModeRun], None] | None = None,
    clock: Clock = time.perf_counter,
) -> ModeRun:
    """``llm.abatch`` with at most `max_concurrency` calls in flight.

    Each question gets its own config (its own run id); LangChain reads the limit from the first.

    Example:
        >>> import asyncio
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage("A"), AIMessage("B")]))
        >>> run = asyncio.run(run_abatch(fake, ["q1", "q2"], max_concurrency=1))
        >>> run.peak_in_flight, run.max_concurrency
        (1, 1)
    """
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    run = _new_run(Mode.ABATCH, prompts, setup, max_concurrency=max_concurrency)
    calls = _Calls(run, config, secrets, clock)
    configs = [calls.config_for(span, max_concurrency=max_concurrency) for span in run.calls]
    work = llm.abatch(list(prompts), config=configs, return_exceptions=True)
    return await _collect(calls, work, on_progress=on_progress)


async def run_astream(
    llm: BaseChatModel,
    prompts: Sequence[str],
    config: RunnableConfig | None = None,
    *,
    setup: str = "",
    secrets: tuple[str, ...] = (),
    on_chunk: Callable[[int, str], None] | None = None,
    on_progress: Callable[[ModeRun], None] | None = None,
    clock: Clock = time.perf_counter,
) -> ModeRun:
    """One ``llm.astream`` per question, all consumed at once; tokens are stamped on arrival.

    `on_chunk(index, text)` is called for every text chunk, on the event loop's thread (the
    Streamlit script thread when run through `run_mode` from a page). A stream that fails
    midway keeps the text that arrived.

    Example:
        >>> import asyncio
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage("a b"), AIMessage("c d")]))
        >>> run = asyncio.run(run_astream(fake, ["q1", "q2"]))
        >>> sorted(c.text for c in run.calls), all(c.first_token_s is not None for c in run.calls)
        (['a b', 'c d'], True)
    """
    run = _new_run(Mode.ASTREAM, prompts, setup)
    calls = _Calls(run, config, secrets, clock)

    async def consume(span: CallSpan) -> None:
        received: list[AIMessageChunk] = []  # merged once at the end, not copied per token
        try:
            async for chunk in llm.astream(span.prompt, config=calls.config_for(span)):
                received.append(chunk)
                text = message_text(chunk)
                if text:
                    span.text += text
                    if on_chunk is not None:
                        on_chunk(span.index, text)
        except Exception as exc:  # keep the partial text; the other streams go on
            calls.failed(span, exc)
        finally:
            if received and span.error is None:
                _fill_from_message(span, received[0] + received[1:])
            if span.end_s is None:
                span.end_s = calls.now()

    await _with_progress(asyncio.gather(*(consume(span) for span in run.calls)), calls, on_progress, PROGRESS_EVERY_S)
    calls.sync()
    run.wall_s = calls.now()
    return run


# --- one action, one event loop ----------------------------------------------------------------


def run_mode(
    mode: Mode,
    prompts: Sequence[str],
    build_llm: Callable[..., BaseChatModel],
    *,
    config: RunnableConfig | None = None,
    max_concurrency: int = 2,
    setup: str = "",
    secrets: tuple[str, ...] = (),
    on_chunk: Callable[[int, str], None] | None = None,
    on_progress: Callable[[ModeRun], None] | None = None,
    clock: Clock = time.perf_counter,
) -> ModeRun:
    """Run one mode as one action: a fresh model, and for async modes a fresh event loop.

    `build_llm(**overrides)` must return a new chat model. Async modes call it inside the new
    loop with ``http_async_client=`` a traced client owned by that loop and closed with it
    (`run_async`), so no connection outlives its loop (the "Event loop is closed" trap described
    above). Call this from a thread with no running event loop (a Streamlit script, a plain
    script).

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> build = lambda **_: FakeListChatModel(responses=["ok"])
        >>> [run_mode(Mode.GATHER, ["q"], build).calls[0].text for _ in range(2)]
        ['ok', 'ok']
    """
    with run_group("async mode", mode.value, calls=len(prompts), max_concurrency=max_concurrency):
        return _run_mode(mode, prompts, build_llm, config, max_concurrency, on_chunk,
                         {"setup": setup, "secrets": secrets, "on_progress": on_progress, "clock": clock})


def _run_mode(
    mode: Mode, prompts: Sequence[str], build_llm: Callable[..., BaseChatModel], config: RunnableConfig | None,
    max_concurrency: int, on_chunk: Callable[[int, str], None] | None, common: dict[str, Any],
) -> ModeRun:
    if mode is Mode.SEQUENTIAL:
        return run_sequential(build_llm(), prompts, config, **common)

    async def work(http: Any) -> ModeRun:
        llm = build_llm(http_async_client=http)
        if mode is Mode.GATHER:
            return await run_gather(llm, prompts, config, **common)
        if mode is Mode.ABATCH:
            return await run_abatch(llm, prompts, max_concurrency, config, **common)
        return await run_astream(llm, prompts, config, on_chunk=on_chunk, **common)

    return run_async(work)


def comparison_rows(runs: Mapping[str, Mapping[Mode, ModeRun]]) -> list[dict[str, Any]]:
    """One row per situation and mode: wall time, average call latency, speed-up, peak in flight.

    The speed-up compares each mode with the sequential run of the *same* situation (and only
    when both ran the same setup), so the CPU-bound and latency-bound cases sit side by side.

    Example:
        >>> seq = ModeRun(Mode.SEQUENTIAL, [CallSpan(0, "a", 0.0, end_s=1.0),
        ...                                 CallSpan(1, "b", 1.0, end_s=2.0)], wall_s=2.0)
        >>> both = ModeRun(Mode.GATHER, [CallSpan(0, "a", 0.0, end_s=1.0),
        ...                              CallSpan(1, "b", 0.0, end_s=1.0)], wall_s=1.0)
        >>> [(r["mode"], r["speedup"], r["peak_in_flight"])
        ...  for r in comparison_rows({"remote": {Mode.SEQUENTIAL: seq, Mode.GATHER: both}})]
        [('sequential', 1.0, 1), ('gather', 2.0, 2)]
    """
    rows: list[dict[str, Any]] = []
    for situation, by_mode in runs.items():
        baseline = by_mode.get(Mode.SEQUENTIAL)
        for mode in Mode:
            run = by_mode.get(mode)
            if run is None or run.wall_s is None:
                continue
            rows.append(
                {
                    "situation": situation,
                    "mode": mode.value,
                    "wall_s": run.wall_s,
                    "mean_latency_s": run.mean_latency_s,
                    "speedup": run.speedup_over(baseline),
                    "peak_in_flight": run.peak_in_flight,
                    "failed": len(run.failures),
                }
            )
    return rows


#: More questions than this would make the timeline unreadable on a projector.
MAX_QUESTIONS = 8


def parse_questions(text: str, limit: int = MAX_QUESTIONS) -> list[str]:
    """The questions in `text`, one per non-empty line, at most `limit`.

    Example:
        >>> parse_questions("What is AI?\\n\\n  What is ML?  \\n")
        ['What is AI?', 'What is ML?']
    """
    return [line.strip() for line in text.splitlines() if line.strip()][:limit]
