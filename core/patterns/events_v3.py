"""`astream_events` v2 and v3 on the same chat-model call, side by side.

What v3 is in the installed langchain-core (1.8.3; beta): `await llm.astream_events(input,
version="v3")` returns an `AsyncChatModelStream`, not an iterator of dicts. Iterating it gives
the raw *protocol* events (`message-start`, `content-block-start`, `content-block-delta`,
`content-block-finish`, `message-finish` — the last one carries the usage); its typed
projections are awaited for the final values: `.text`, `.reasoning`, `.tool_calls` and
`.output` (an `AIMessage` whose content is a list of v1 content blocks, with `usage_metadata`).
There is no `.usage` projection in this release, whatever its docstring says. v3 exists on
chat models (and graphs) only: a chain's `astream_events(version="v3")` raises
`NotImplementedError`.

v2 yields `StreamEvent` dicts (`on_chat_model_start`, `…_stream`, `…_end`), each with its run id
and parents. Calling v3 emits a `LangChainBetaWarning`; it is captured here and shown on the
page instead of landing in the terminal.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core._api.beta_decorator import LangChainBetaWarning
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from core.call.errors import CallProblem, explain_error
from core.call.trace import CallTrace
from core.call.tracing import ensure_tracer, for_one_call, outcome_of
from core.call.usage import Usage


@dataclass
class VersionRun:
    """One call's stream in one version of the events API.

    Attributes:
        version: "v2" or "v3".
        counts: events per type, in the order first seen.
        first_events: the first few events as received (dicts), for showing their shape.
        text: the answer's text.
        reasoning: reasoning text (v3's `.reasoning`; v2 has no such field): None = none.
        tool_calls: tool calls the model made.
        beta_warning: the warning v3 emitted (captured, not printed), if any.
        problem: why the call failed, if it did.
        trace: the model call's trace: its usage, and its timings (``trace.ttft_s`` to the
            first text, ``trace.e2e_s`` to the last event consumed).
    """

    version: str
    counts: dict[str, int] = field(default_factory=dict)
    first_events: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    beta_warning: str | None = None
    problem: CallProblem | None = None
    trace: CallTrace | None = field(default=None, repr=False, compare=False)

    @property
    def events(self) -> int:
        return sum(self.counts.values())

    @property
    def usage(self) -> Usage | None:
        """The token usage, or None when not reported."""
        return self.trace.usage if self.trace is not None else None


def _traced(config: RunnableConfig | None) -> tuple[RunnableConfig, Callable[[Any], Awaitable[CallTrace | None]]]:
    """A config for one traced call, and a coroutine function that ends the call (with the final
    message, for a stream whose end callback never came) and returns its trace."""
    base, tracer = ensure_tracer(config)
    call, run_id = for_one_call(base, tracer, time.perf_counter())

    async def done(output: Any) -> CallTrace | None:
        end = time.perf_counter()  # the last event was consumed
        trace = tracer.trace(run_id)
        if trace is None:
            return None
        # v3 (langchain-core 1.8.3) reports the model run's end from a task of its own, a moment
        # after `.output` resolves; a loop closed before then cancels it, which the callbacks
        # report as a failed call. Let it finish first.
        for _ in range(END_CALLBACK_WAITS):
            if trace.outcome is not None:
                break
            await asyncio.sleep(0.001)
        trace.finished = end
        if trace.outcome is None and output is not None:
            trace.outcome = outcome_of(output, trace, tracer.secrets)
        return trace

    return call, done


#: How many 1 ms waits `_traced` gives v3's end callback (a fake model needs one or two).
END_CALLBACK_WAITS = 200


SHOWN_EVENTS = 4


async def _v2(llm: BaseChatModel, prompt: str, config: RunnableConfig | None) -> VersionRun:
    run = VersionRun("v2")
    counts: Counter[str] = Counter()
    call, done = _traced(config)
    output: Any = None
    async for event in llm.astream_events(prompt, call, version="v2"):
        counts[event["event"]] += 1
        if len(run.first_events) < SHOWN_EVENTS:
            run.first_events.append(
                {k: event[k] for k in ("event", "name", "run_id", "parent_ids", "data") if k in event}
            )
        if event["event"] == "on_chat_model_stream":
            run.text += event["data"]["chunk"].text
        elif event["event"] == "on_chat_model_end":
            output = event["data"].get("output")
            run.tool_calls = list(getattr(output, "tool_calls", None) or [])
    run.trace = await done(output)
    run.counts = dict(counts)
    return run


_BETA_WARNING: list[str] = []


async def _v3(llm: BaseChatModel, prompt: str, config: RunnableConfig | None) -> VersionRun:
    run = VersionRun("v3")
    counts: Counter[str] = Counter()
    call, done = _traced(config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LangChainBetaWarning)
        stream = await llm.astream_events(prompt, call, version="v3")
    beta = [w for w in caught if issubclass(w.category, LangChainBetaWarning)]
    if beta:
        _BETA_WARNING[:] = [str(beta[0].message)]
    # langchain-core warns once per process: later runs show the first run's words, or these.
    run.beta_warning = _BETA_WARNING[0] if _BETA_WARNING else (
        'astream_events(version="v3") is in beta in langchain-core (it warns once per process).'
    )
    async for event in stream:
        kind = str(event.get("event"))
        counts[kind] += 1
        if len(run.first_events) < SHOWN_EVENTS:
            run.first_events.append(dict(event))
    run.text = await stream.text
    run.reasoning = (await stream.reasoning) or None
    run.tool_calls = list(await stream.tool_calls or [])
    run.trace = await done(await stream.output)
    run.counts = dict(counts)
    return run


def run_both_versions(
    make_model: Callable[[], tuple[BaseChatModel, Callable[[], Any]]],
    prompt: str,
    config: RunnableConfig | None = None,
    *,
    secrets: tuple[str, ...] = (),
) -> tuple[VersionRun, VersionRun]:
    """The same call through `astream_events` v2, then v3, each on an event loop of its own.

    Args:
        make_model: returns a fresh model and an async function closing its HTTP client (a
            client is bound to the loop that opened it: one per run).
        prompt: the input.
        config: the page's config (the ledger's callbacks).
        secrets: values to redact from error messages.

    Never raises for a failed call: the run carries the problem instead.
    """
    results: list[VersionRun] = []
    for version, runner in (("v2", _v2), ("v3", _v3)):

        async def one(runner: Callable[..., Any] = runner) -> VersionRun:
            llm, close = make_model()
            try:
                return await runner(llm, prompt, config)
            finally:
                await close()

        try:
            results.append(asyncio.run(one()))
        except Exception as exc:  # the page shows what went wrong beside the other version
            results.append(VersionRun(version, problem=explain_error(exc, *secrets)))
    return results[0], results[1]
