"""Async concurrency: the same questions asked four ways, each call timed on one shared clock.

The modes:

* ``sequential`` — ``llm.invoke`` in a loop: each call waits for the one before.
* ``gather`` — ``asyncio.gather(*(llm.ainvoke(q) ...), return_exceptions=True)``: all at once.
* ``abatch`` — ``llm.abatch(questions, config={"max_concurrency": n}, return_exceptions=True)``:
  at most ``n`` in flight; the rest wait their turn client-side.
* ``astream`` — several ``llm.astream`` at once; their tokens arrive interleaved.

Every call gets a `CallSpan` holding its `CallTrace` (the one timing callback,
`core.call.tracing.CallTracer`), which places the trace's start, first text and end on the mode's
timeline; the figures are the trace's, the mode's aggregate its `Run`'s. Start and end
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
(`core.call.bridge.run_async`, the one sync→async bridge).
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from core.call.bridge import run_async
from core.call.errors import CallProblem, explain_error
from core.call.run import Run
from core.call.trace import FAILED, CallTrace, Outcome
from core.call.tracing import ensure_tracer, message_text, outcome_of
from core.call.usage import Usage
from core.export.otel import run_group

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
    """One question of a mode: its call's trace, and where the call sits on the mode's timeline.

    Every figure is the trace's (``span.trace.e2e_s``, ``.ttft_s``); the span only places the
    trace's marks on the mode's clock (seconds since the mode started) for the timeline.

    Attributes:
        index: position of the question in the list.
        prompt: the question.
        trace: the call's `CallTrace`; None until LangChain started the call.
        mode_started: `time.perf_counter()` when the mode began: the timeline's zero.
    """

    index: int
    prompt: str
    trace: CallTrace | None = field(default=None, repr=False, compare=False)
    mode_started: float = 0.0

    def on_timeline(self, moment: float | None) -> float | None:
        """A trace mark as seconds since the mode started (None stays None)."""
        return None if moment is None else moment - self.mode_started

    @property
    def start_s(self) -> float | None:
        """When the call began (LangChain's ``on_chat_model_start``), on the mode's timeline."""
        return self.on_timeline(self.trace.origin) if self.trace is not None else None

    @property
    def end_s(self) -> float | None:
        """When the call finished or failed; None while it runs."""
        if self.trace is None or self.trace.outcome is None:
            return None
        return self.on_timeline(self.trace.end)

    @property
    def text_times_s(self) -> list[float]:
        """When each text chunk arrived, on the mode's timeline (streaming modes only)."""
        return [c.at - self.mode_started for c in self.trace.text_chunks] if self.trace is not None else []

    @property
    def first_text_s(self) -> float | None:
        """When the first text arrived; None when the mode does not stream (the answer comes
        whole at ``end_s``) or no text arrived."""
        return self.on_timeline(self.trace.first_text) if self.trace is not None else None

    @property
    def text(self) -> str:
        """The answer (for a stream that failed midway, what arrived)."""
        return self.trace.text if self.trace is not None else ""

    @property
    def usage(self) -> Usage | None:
        return self.trace.usage if self.trace is not None else None

    @property
    def finish_reason(self) -> str | None:
        return self.trace.finish_reason if self.trace is not None else None

    @property
    def error(self) -> CallProblem | None:
        """The failure, explained; None when the call succeeded (a stream that ended without a
        finish reason is kind "incomplete", its text kept)."""
        return self.trace.problem if self.trace is not None else None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def finished(self) -> bool:
        return self.end_s is not None


def overlaps(a: CallSpan, b: CallSpan) -> bool:
    """Whether two calls were in flight at the same moment (touching ends do not count).

    Example:
        >>> from core.call.trace import CallTrace, Outcome
        >>> def span(start: float, end: float) -> CallSpan:
        ...     return CallSpan(0, "q", CallTrace("r", origin=start, lc_end=end, outcome=Outcome("complete")))
        >>> overlaps(span(0.0, 1.0), span(0.5, 2.0)), overlaps(span(0.0, 1.0), span(1.0, 2.0))
        (True, False)
    """
    if None in (a.start_s, a.end_s, b.start_s, b.end_s):
        return False
    return a.start_s < b.end_s and b.start_s < a.end_s  # type: ignore[operator]  # `None in` does not narrow


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
        started: `time.perf_counter()` when the mode began (its calls' timeline zero).
    """

    mode: Mode
    calls: list[CallSpan]
    wall_s: float | None = None
    max_concurrency: int | None = None
    setup: str = ""
    situation: str = ""
    started: float = 0.0

    @property
    def run(self) -> Run:
        """The calls that started, as a `Run`: sum and mean of e2e, peak and average in flight,
        failures by cause — the aggregate, computed there from the traces."""
        ended = self.started + self.wall_s if self.wall_s is not None else None
        return Run(self.mode.value, [c.trace for c in self.calls if c.trace is not None],
                   started=self.started, ended=ended)

    @property
    def peak_in_flight(self) -> int:
        return self.run.peak_in_flight

    @property
    def overlapped(self) -> bool:
        """Whether any two calls were in flight at once."""
        return self.peak_in_flight >= 2

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
        run.started = self.started  # the timeline's zero, for the run and each of its calls
        for span in run.calls:
            span.mode_started = self.started

    def config_for(self, span: CallSpan, **extra: Any) -> RunnableConfig:
        """The config of one call: the base, a ``call:i`` tag, and its own run id."""
        run_id = self.run_ids.setdefault(span.index, uuid.uuid4())
        return merge_configs(self.config, {"tags": [f"call:{span.index}"], "run_id": run_id, **extra})  # type: ignore[arg-type]  # extra: RunnableConfig keys

    def now(self) -> float:
        return self.clock() - self.started

    def sync(self) -> ModeRun:
        """Give every span its call's trace, once LangChain has started the call."""
        for span in self.run.calls:
            run_id = self.run_ids.get(span.index)
            trace = self.tracer.trace(run_id) if run_id is not None and span.trace is None else None
            if trace is not None:
                span.trace = trace
        return self.run

    def failed(self, span: CallSpan, exc: BaseException) -> None:
        if not isinstance(exc, Exception):
            # Not a failed call: Streamlit stopping the script, Ctrl-C, cancellation. Let it go on.
            raise exc
        self.sync()
        trace = span.trace
        problem = explain_error(exc, *self.secrets, evidence=trace.attempt if trace else None)
        if trace is None:
            # It failed before the model call began (no start event): a call of no length, now.
            now = self.clock()
            span.trace = trace = CallTrace(str(self.run_ids.get(span.index, "")), origin=now, finished=now)
        if trace.outcome is None:
            trace.outcome = Outcome(FAILED, text=trace.text)
        if trace.lc_end is None and trace.finished is None:
            trace.finished = self.clock()  # LangChain never ended it: the runner's end is its end
        trace.outcome.problem = problem


def _new_run(mode: Mode, prompts: Sequence[str], setup: str, **kwargs: Any) -> ModeRun:
    return ModeRun(mode=mode, calls=[CallSpan(i, p) for i, p in enumerate(prompts)], setup=setup, **kwargs)


def _fill_from_message(span: CallSpan, message: BaseMessage, calls: _Calls) -> None:
    """For a call the tracer did not see (a model without callbacks): its outcome from the
    message itself, on a trace spanning the mode's start to now (all that was observed)."""
    calls.sync()
    if span.trace is not None and span.trace.outcome is not None:
        return
    if span.trace is None:
        span.trace = CallTrace(str(calls.run_ids.get(span.index, "")), origin=calls.started, finished=calls.clock())
    span.trace.outcome = outcome_of(message)


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
            _fill_from_message(span, llm.invoke(span.prompt, config=calls.config_for(span)), calls)
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
            _fill_from_message(span, result, calls)
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
        >>> sorted(c.text for c in run.calls), all(c.first_text_s is not None for c in run.calls)
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
                if text and on_chunk is not None:
                    on_chunk(span.index, text)
        except Exception as exc:  # keep the partial text; the other streams go on
            calls.failed(span, exc)
        finally:
            if received and span.error is None:
                _fill_from_message(span, received[0] + received[1:], calls)

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
        >>> from core.call.trace import Outcome
        >>> def call(start: float, end: float) -> CallSpan:
        ...     return CallSpan(0, "q", CallTrace("r", origin=start, lc_end=end, outcome=Outcome("complete")))
        >>> seq = ModeRun(Mode.SEQUENTIAL, [call(0.0, 1.0), call(1.0, 2.0)], wall_s=2.0)
        >>> both = ModeRun(Mode.GATHER, [call(0.0, 1.0), call(0.0, 1.0)], wall_s=1.0)
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
                    "mean_latency_s": run.run.mean_e2e_s,
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
