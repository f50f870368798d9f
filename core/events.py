"""Streaming events: chains to watch, a recorder for `astream_events(version="v2")`, and views of it.

`astream_events` reports everything that happens inside a chain — each step starting, streaming
and ending — as plain dicts. They carry no timestamps, so `EventRecorder` stamps each one the
moment it is received, keeps every one (a screen may redraw less often; the record never skips),
and derives what a person wants to see: one span per run for a waterfall timeline, counts per
event type, readable one-line summaries, and JSON Lines / CSV exports.

Version 2 has no event for a failing model call: the exception is raised from the iterator
itself. The recorder catches it, keeps the events received so far, and names the step it came
from (the run that reported an error event, else the deepest run still open).

Streamlit runs a page as plain synchronous code, so `stream_events` drives the async iterator one
event at a time on a fresh event loop: the caller can redraw between events from its own thread.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections import Counter
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnableParallel
from langchain_core.tools import BaseTool, tool
from pydantic import BaseModel

from core.bridge import iterate_in_new_loop
from core.errors import CallProblem, explain_error, redact
from core.trace import CallTrace
from core.tracing import CallTracer, message_text, traced_async_http_client

Clock = Callable[[], float]
T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Chains to watch
# ---------------------------------------------------------------------------------------------

JOKE_PROMPT = "Tell me a joke about {topic}."
HAIKU_PROMPT = "Write a haiku about {topic}."
TAKES: tuple[tuple[str, str], ...] = (
    ("joke", "Tell me a one-line joke about {topic}."),
    ("fact", "Tell me one surprising fact about {topic}, in one sentence."),
    ("haiku", "Write a haiku about {topic}."),
)


def make_answer_stats_tool(*, fail: bool = False) -> BaseTool:
    """The `answer_stats` tool: words, characters and sentences of a text.

    Args:
        fail: raise instead of answering, to show how an error mid-chain is captured.

    Example:
        >>> make_answer_stats_tool().invoke({"text": "Hi there. Bye!"})
        {'words': 3, 'characters': 14, 'sentences': 2}
    """

    @tool("answer_stats")
    def answer_stats(text: str) -> dict[str, int]:
        """Count the words, characters and sentences in a piece of text."""
        if fail:
            raise ValueError("answer_stats failed on purpose ('Make the tool fail' is on)")
        sentences = sum(text.count(mark) for mark in ".!?") or (1 if text.strip() else 0)
        return {"words": len(text.split()), "characters": len(text), "sentences": sentences}

    return answer_stats


def _as_tool_input(text: str) -> dict[str, str]:
    # A tool called with a dict reports it as `input` in on_tool_start; called with a bare
    # string it reports an empty input, which would hide what the tool was given.
    return {"text": text}


def joke_chain(llm: BaseChatModel) -> Runnable:
    """prompt → model → output parser: the concept note's joke about `{topic}`."""
    return ChatPromptTemplate.from_template(JOKE_PROMPT) | llm | StrOutputParser()


def joke_with_tool_chain(llm: BaseChatModel, *, fail_tool: bool = False) -> Runnable:
    """The joke chain, then the real `answer_stats` tool on its answer."""
    return (
        joke_chain(llm)
        | RunnableLambda(_as_tool_input, name="as_tool_input")
        | make_answer_stats_tool(fail=fail_tool)
    )


def parallel_chain(llm: BaseChatModel) -> Runnable:
    """A joke and a haiku about `{topic}` from two model calls running at the same time."""
    return RunnableParallel(
        joke=ChatPromptTemplate.from_template(JOKE_PROMPT) | llm | StrOutputParser(),
        haiku=ChatPromptTemplate.from_template(HAIKU_PROMPT) | llm | StrOutputParser(),
    )


def progress_chain(llm: BaseChatModel) -> Runnable:
    """A step that writes three takes on `{topic}` in turn, sending a progress event after each."""

    async def three_takes(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, str]:
        total = len(TAKES)
        await adispatch_custom_event(
            "progress", {"done": 0, "total": total, "label": "starting"}, config=config
        )
        answers: dict[str, str] = {}
        for done, (kind, template) in enumerate(TAKES, start=1):
            take = ChatPromptTemplate.from_template(template) | llm | StrOutputParser()
            answers[kind] = await take.ainvoke(inputs, config=config)
            await adispatch_custom_event(
                "progress", {"done": done, "total": total, "label": f"wrote the {kind}"},
                config=config,
            )
        return answers

    return RunnableLambda(three_takes, name="three_takes")


@dataclass(frozen=True)
class ChainSpec:
    """A chain the page offers: its title, one-sentence explanation and builder."""

    key: str
    title: str
    explanation: str
    build: Callable[..., Runnable]
    has_tool: bool = False


CHAINS: dict[str, ChainSpec] = {
    spec.key: spec
    for spec in (
        ChainSpec(
            "joke",
            "Prompt → model → parser",
            "The concept note's joke about a topic: the smallest chain where every step reports "
            "its start, its streamed pieces and its end.",
            lambda llm, **_: joke_chain(llm),
        ),
        ChainSpec(
            "tool",
            "… plus a tool step",
            "The same chain, then a real `@tool` (`answer_stats`) counts the answer's words and "
            "sentences, so `on_tool_start` and `on_tool_end` appear.",
            lambda llm, *, fail_tool=False, **_: joke_with_tool_chain(llm, fail_tool=fail_tool),
            has_tool=True,
        ),
        ChainSpec(
            "parallel",
            "Two model calls in parallel",
            "A `RunnableParallel` asks for a joke and a haiku at the same time: two model runs "
            "stream side by side under one parent.",
            lambda llm, **_: parallel_chain(llm),
        ),
        ChainSpec(
            "progress",
            "Custom progress events",
            "One step asks for a joke, a fact and a haiku in turn and announces each with "
            "`adispatch_custom_event` — the kind of event that drives a progress bar.",
            lambda llm, **_: progress_chain(llm),
        ),
    )
}


def build_chain(key: str, llm: BaseChatModel, *, fail_tool: bool = False) -> Runnable:
    """Build one of `CHAINS` around `llm` (a fresh `ChatOpenAI` per run).

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> fake = GenericFakeChatModel(messages=iter([]))
        >>> type(build_chain("parallel", fake)).__name__
        'RunnableParallel'
    """
    return CHAINS[key].build(llm, fail_tool=fail_tool)


# ---------------------------------------------------------------------------------------------
# Driving the async iterator from synchronous code
# ---------------------------------------------------------------------------------------------


def fresh_async_http_client() -> Any:
    """An async HTTP client for one run: pass it to `ChatOpenAI(http_async_client=...)`.

    Without one, every `ChatOpenAI` with the same base URL and timeout shares one process-wide
    async client, whose kept-alive connections belong to the event loop that opened them; the
    next run's fresh loop then fails with "Event loop is closed". Close it with the run
    (`stream_events(..., http_clients=[client])`).
    """
    return traced_async_http_client()


def stream_events(
    chain: Runnable,
    inputs: Any,
    config: RunnableConfig | None = None,
    *,
    http_clients: Sequence[Any] = (),
    idle_s: float | None = None,
    **filters: Any,
) -> Iterator[dict[str, Any] | None]:
    """`chain.astream_events(inputs, config, version="v2", **filters)`, as a plain iterator.

    Runs on a fresh event loop, stepped once per event (`iterate_in_new_loop`); the given
    `http_clients` are closed on that loop at the end. With `idle_s`, `None` comes out when no
    event arrived for that long. Errors raised inside the chain come out of this iterator, as
    they do from the async one.
    """

    async def close_clients() -> None:
        for client in http_clients:
            await client.aclose()

    return iterate_in_new_loop(
        lambda: chain.astream_events(inputs, config=config, version="v2", **filters),  # type: ignore[arg-type,return-value]
        on_close=close_clients,
        idle_s=idle_s,
    )


# ---------------------------------------------------------------------------------------------
# Recorded events
# ---------------------------------------------------------------------------------------------


def short_id(run_id: str | None) -> str:
    """The last 6 characters of a run id, enough to tell runs apart on screen.

    The *last* ones: LangChain's run ids are time-ordered UUIDs (v7) whose first characters are
    the same for every run started in the same second.

    Example:
        >>> short_id("019a2b3c-0000-7000-8000-00000012ab9f")
        '12ab9f'
    """
    return run_id[-6:] if run_id else ""


def run_type_of(event: str, name: str = "") -> str:
    """The run type `astream_events`' `include_types` filter matches for an event.

    Standard events are named `on_<run type>_<phase>`; custom events are filtered by their
    own name (that is what langchain-core passes to its filter).

    Example:
        >>> run_type_of("on_chat_model_stream"), run_type_of("on_custom_event", "progress")
        ('chat_model', 'progress')
    """
    if event == "on_custom_event":
        return name
    body = event.removeprefix("on_")
    return body.rsplit("_", 1)[0] if "_" in body else body


def phase_of(event: str) -> str:
    """start, stream, end, error or custom.

    Example:
        >>> phase_of("on_tool_error"), phase_of("on_custom_event")
        ('error', 'custom')
    """
    if event == "on_custom_event":
        return "custom"
    return event.rsplit("_", 1)[-1]


@dataclass(frozen=True)
class RecordedEvent:
    """One event from `astream_events`, stamped on receipt.

    Attributes:
        index: position in the order received (0-based).
        at_s: seconds since the run began, stamped when the event was received.
        event: the event type, e.g. ``on_chat_model_stream``.
        name: the runnable's name (or the custom event's name).
        run_id: the run that emitted it.
        parent_ids: the run's ancestors, root first (v2 only).
        tags: the run's tags.
        summary: one readable line about `data` (input, chunk text or output).
        data: the event's `data`, as received (models' messages, errors, ...).
        metadata: the run's metadata.
    """

    index: int
    at_s: float
    event: str
    name: str
    run_id: str
    parent_ids: tuple[str, ...]
    tags: tuple[str, ...]
    summary: str
    data: Any = field(repr=False, compare=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def parent_id(self) -> str | None:
        """The immediate parent run, or None for the root."""
        return self.parent_ids[-1] if self.parent_ids else None

    @property
    def run_type(self) -> str:
        return run_type_of(self.event, self.name)

    @property
    def phase(self) -> str:
        return phase_of(self.event)

    def to_dict(self, *secrets: str) -> dict[str, Any]:
        """The whole event as JSON-safe data (messages dumped, errors as type and message)."""
        return {
            "index": self.index,
            "at_ms": round(self.at_s * 1000, 3),
            "event": self.event,
            "name": self.name,
            "run_id": self.run_id,
            "parent_ids": list(self.parent_ids),
            "tags": list(self.tags),
            "metadata": jsonable(self.metadata, secrets),
            "data": jsonable(self.data, secrets),
        }


class EventRecorder:
    """Record every event of one `astream_events` run, stamped on receipt.

    Use `watch()` around a sync iterator (or `awatch()` around the async one): it yields each
    `RecordedEvent` as it is recorded and never raises for a failure inside the chain — the
    error is kept in `error`, with the step it came from, and the events so far stay.

    Example:
        >>> events = [
        ...     {"event": "on_chain_start", "name": "seq", "run_id": "r1", "parent_ids": [],
        ...      "data": {"input": {"topic": "cats"}}},
        ...     {"event": "on_chain_end", "name": "seq", "run_id": "r1", "parent_ids": [],
        ...      "data": {"output": "ok"}},
        ... ]
        >>> recorder = EventRecorder()
        >>> [e.event for e in recorder.watch(events)]
        ['on_chain_start', 'on_chain_end']
        >>> recorder.counts(), recorder.ok
        ({'on_chain_start': 1, 'on_chain_end': 1}, True)
    """

    def __init__(
        self, *, clock: Clock = time.perf_counter, secrets: tuple[str, ...] = (), tracer: CallTracer | None = None
    ) -> None:
        """`tracer` (the run's `CallTracer`, e.g. the ledger's in its config) lends what the HTTP
        client saw to name a malformed answer, and its traces tell a model stream that ended
        without a finish reason from a finished one."""
        self.tracer = tracer
        self.events: list[RecordedEvent] = []
        self.names: dict[str, str] = {}  # run id -> runnable name, for the parent column
        self.error: CallProblem | None = None
        self.error_step: str | None = None
        self.error_run_id: str | None = None
        self.error_at_s: float | None = None
        self.total_s: float | None = None
        self.finished = False
        self.interrupted = False
        self.secrets = secrets
        self._clock = clock
        self._start: float | None = None
        self._open: dict[str, tuple[str, int]] = {}  # run id -> (name, depth) of unfinished runs
        self._last_error_event: RecordedEvent | None = None
        self._counts: Counter[str] = Counter()

    # -- recording -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the clock (called by `watch`; call it yourself when using `record` directly)."""
        self._start = self._clock()

    def elapsed_s(self) -> float:
        """Seconds since `start()`."""
        if self._start is None:
            self.start()
        return self._clock() - self._start  # type: ignore[operator]

    def record(self, raw: Mapping[str, Any]) -> RecordedEvent:
        """Stamp and keep one raw event; return its record."""
        at_s = self.elapsed_s()  # first: the stamp is the moment of receipt
        event = str(raw.get("event", ""))
        name = str(raw.get("name", ""))
        run_id = str(raw.get("run_id", ""))
        data = raw.get("data")
        recorded = RecordedEvent(
            index=len(self.events),
            at_s=at_s,
            event=event,
            name=name,
            run_id=run_id,
            parent_ids=tuple(str(p) for p in raw.get("parent_ids") or ()),
            tags=tuple(raw.get("tags") or ()),
            summary=summarize(event, data, self.secrets),
            data=data,
            metadata=raw.get("metadata") or {},
        )
        self.events.append(recorded)
        self._counts[event] += 1
        phase = recorded.phase
        if phase == "start":
            self.names[run_id] = name
            self._open[run_id] = (name, len(recorded.parent_ids))
        elif phase in ("end", "error"):
            self.names.setdefault(run_id, name)
            self._open.pop(run_id, None)
            if phase == "error":
                self._last_error_event = recorded
        return recorded

    def fail(self, exc: BaseException) -> None:
        """Keep an exception raised from the event iterator, and the step it came from."""
        self.error_at_s = self.elapsed_s()
        failed = [t for t in self.model_traces() if t.status == "failed"]
        evidence = failed[-1].attempt if failed else None
        problem = explain_error(exc, *self.secrets, evidence=evidence)
        if self._last_error_event is not None:
            # A step that reports its own failure (tools do: on_tool_error) is the source.
            self.error_step = self._last_error_event.name
            self.error_run_id = self._last_error_event.run_id
        elif self._open:
            # Model calls report no error event: blame the deepest run still open, the most
            # recently started among equals (dicts keep insertion order).
            candidates = list(self._open.items())
            deepest = max(range(len(candidates)), key=lambda i: (candidates[i][1][1], i))
            run_id, (name, _) = candidates[deepest]
            self.error_step, self.error_run_id = name, run_id
        if problem.kind == "unexpected" and self.error_step:
            # Not a transport or HTTP failure: the step's own code raised.
            problem = CallProblem(
                "step_failed",
                f"The step `{self.error_step}` raised {type(exc).__name__}",
                problem.detail,
                "The chain's own code failed here, not the model endpoint; fix the step and "
                "run again.",
            )
        self.error = problem

    def finish(self) -> None:
        self.total_s = self.elapsed_s()
        if self.error is None:
            # No error came out of the iterator, but a model's stream may have ended early.
            cut = [t for t in self.model_traces() if t.outcome is not None and t.outcome.problem is not None]
            if cut:
                trace = cut[-1]
                self.error = trace.outcome.problem  # type: ignore[union-attr]
                self.error_at_s = self.total_s
                self.error_run_id = trace.run_id
                self.error_step = self.names.get(trace.run_id, "the model")

    def model_traces(self) -> list[CallTrace]:
        """The traces of this run's model calls (empty without a tracer)."""
        return self.tracer.traces() if self.tracer is not None else []

    def watch(
        self, events: Iterable[Mapping[str, Any] | None]
    ) -> Iterator[RecordedEvent | None]:
        """Record each event of `events` as it arrives and yield its record; never raises.

        A `None` in `events` (an idle tick from `stream_events(idle_s=...)`) is passed through
        unrecorded, so the caller can refresh while waiting.
        """
        self.start()
        completed = False
        try:
            for raw in events:
                yield None if raw is None else self.record(raw)
            completed = True
        except Exception as exc:  # a failed chain is data here: keep what arrived
            self.fail(exc)
            completed = True
        finally:
            # Reached when the consumer stops early too (a Streamlit rerun mid-run).
            self.interrupted = not completed
            self.finished = True
            self.finish()

    async def awatch(self, events: AsyncIterable[Mapping[str, Any]]) -> AsyncIterator[RecordedEvent]:
        """`watch` for the async iterator itself (`async for e in recorder.awatch(...)`)."""
        self.start()
        completed = False
        try:
            async for raw in events:
                yield self.record(raw)
            completed = True
        except Exception as exc:
            self.fail(exc)
            completed = True
        finally:
            self.interrupted = not completed
            self.finished = True
            self.finish()

    # -- views -----------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted

    def counts(self) -> dict[str, int]:
        """Events per event type, in order of first appearance."""
        return dict(self._counts)

    def parent_label(self, event: RecordedEvent) -> str:
        """`name ·abc123` of the event's parent run, or an em dash for the root."""
        parent = event.parent_id
        if parent is None:
            return "—"
        return f"{self.names.get(parent, '?')} ·{short_id(parent)}"

    def table_rows(self, events: Iterable[RecordedEvent] | None = None) -> list[dict[str, Any]]:
        """Rows for the events log: ms since start, type, name, run, parent, summary.

        The parent is its short run id (it is some row's `run`); `parent_label` names it.
        """
        return [
            {
                "#": e.index,
                "ms": round(e.at_s * 1000, 1),
                "event": e.event,
                "name": e.name,
                "run": short_id(e.run_id),
                "parent": short_id(e.parent_id) or "—",
                "summary": e.summary,
            }
            for e in (self.events if events is None else events)
        ]

    def spans(self, events: Iterable[RecordedEvent] | None = None) -> list[RunSpan]:
        """Runs as spans for the timeline (see `derive_spans`)."""
        end = self.error_at_s if self.error_at_s is not None else self.total_s
        return derive_spans(
            self.events if events is None else events, until_s=end, failed_run_id=self.error_run_id
        )

    @property
    def first_chunk_s(self) -> float | None:
        """When the first model chunk with text arrived."""
        for e in self.events:
            if (
                e.event == "on_chat_model_stream"
                and isinstance(e.data, Mapping)
                and _chunk_text(e.data.get("chunk"))
            ):
                return e.at_s
        return None

    def progress(self) -> tuple[int, int, str] | None:
        """(done, total, label) from the latest custom `progress` event, if any."""
        for e in reversed(self.events):
            if e.event == "on_custom_event" and e.name == "progress" and isinstance(e.data, Mapping):
                return int(e.data.get("done", 0)), int(e.data.get("total", 1)), str(e.data.get("label", ""))
        return None

    def to_jsonl(self) -> str:
        """Every recorded event, one JSON object per line."""
        return "".join(
            json.dumps(e.to_dict(*self.secrets), ensure_ascii=False) + "\n" for e in self.events
        )

    def to_csv(self) -> str:
        """Every recorded event as CSV: the log's columns plus full ids and tags."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["index", "at_ms", "event", "name", "run_id", "parent_id", "tags", "summary"])
        for e in self.events:
            writer.writerow(
                [e.index, f"{e.at_s * 1000:.3f}", e.event, e.name, e.run_id, e.parent_id or "",
                 ";".join(e.tags), e.summary]
            )
        return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Filters mirroring astream_events' include_* / exclude_* options
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """The `include_*` / `exclude_*` options of `astream_events`, applied to recorded events.

    Same rules as langchain-core: with no include option everything is included, otherwise an
    event must match one of them; then any exclude option removes it. Types are run types
    (`chain`, `prompt`, `chat_model`, `parser`, `tool`; a custom event's type is its name).
    `None` means "option not given"; an empty tuple is turned into `None` by `from_choices`.

    Example:
        >>> f = EventFilter(include_types=("chat_model",))
        >>> f.matches({"event": "on_chat_model_end", "name": "ChatOpenAI"})
        True
        >>> f.matches({"event": "on_chain_end", "name": "RunnableSequence"})
        False
        >>> f.api_kwargs()
        {'include_types': ['chat_model']}
    """

    include_names: tuple[str, ...] | None = None
    include_types: tuple[str, ...] | None = None
    include_tags: tuple[str, ...] | None = None
    exclude_names: tuple[str, ...] | None = None
    exclude_types: tuple[str, ...] | None = None
    exclude_tags: tuple[str, ...] | None = None

    @classmethod
    def from_choices(cls, **choices: Iterable[str] | None) -> EventFilter:
        """Build from widget selections: an empty selection means the option is not given."""
        return cls(**{k: (tuple(v) if v else None) for k, v in choices.items()})

    @property
    def active(self) -> bool:
        return bool(self.api_kwargs())

    def api_kwargs(self) -> dict[str, list[str]]:
        """The options as keyword arguments for `astream_events` (only those given)."""
        return {
            name: list(value)
            for name, value in vars(self).items()
            if value is not None
        }

    def matches(self, event: RecordedEvent | Mapping[str, Any]) -> bool:
        if isinstance(event, RecordedEvent):
            kind, name, tags = event.event, event.name, event.tags
        else:
            kind, name, tags = str(event.get("event")), str(event.get("name")), tuple(event.get("tags") or ())
        run_type = run_type_of(kind, name)
        if self.include_names is None and self.include_types is None and self.include_tags is None:
            include = True
        else:
            include = (
                (self.include_names is not None and name in self.include_names)
                or (self.include_types is not None and run_type in self.include_types)
                or (self.include_tags is not None and any(t in self.include_tags for t in tags))
            )
        if self.exclude_names is not None and name in self.exclude_names:
            include = False
        if self.exclude_types is not None and run_type in self.exclude_types:
            include = False
        if self.exclude_tags is not None and any(t in self.exclude_tags for t in tags):
            include = False
        return include

    def apply(self, events: Iterable[RecordedEvent]) -> list[RecordedEvent]:
        return [e for e in events if self.matches(e)]


# ---------------------------------------------------------------------------------------------
# Spans for the timeline
# ---------------------------------------------------------------------------------------------


@dataclass
class RunSpan:
    """One run from its first event to its end event, for a waterfall timeline.

    Attributes:
        parent_id: the nearest ancestor that is itself a span (None for a root).
        depth: nesting level among the spans shown (0 for a root).
        end_s: when it ended; None when it never did (an error or an interrupted run).
        ticks_s: when each of its stream chunks arrived.
        custom: (time, name) of custom events it sent.
        failed: it reported an error, or the run's error was traced to it.
    """

    run_id: str
    name: str
    run_type: str
    parent_id: str | None
    start_s: float
    end_s: float | None = None
    depth: int = 0
    ticks_s: list[float] = field(default_factory=list)
    custom: list[tuple[float, str]] = field(default_factory=list)
    failed: bool = False

    @property
    def finished(self) -> bool:
        return self.end_s is not None

    def duration_s(self, until_s: float | None = None) -> float:
        """Length of the span; an unfinished one lasts until `until_s` (or its last event)."""
        end = self.end_s if self.end_s is not None else until_s
        if end is None:
            end = max([self.start_s, *self.ticks_s, *(t for t, _ in self.custom)])
        return max(0.0, end - self.start_s)


def derive_spans(
    events: Iterable[RecordedEvent],
    *,
    until_s: float | None = None,
    failed_run_id: str | None = None,
) -> list[RunSpan]:
    """Per-run spans in waterfall order: each parent followed by its children by start time.

    A run's parent is the nearest of its `parent_ids` that has a span here, so a filtered event
    list still nests sensibly. Runs whose end never came (an error) stay unfinished.

    Example:
        >>> def ev(i, t, kind, name, rid, parents=()):
        ...     return RecordedEvent(i, t, kind, name, rid, tuple(parents), (), "", {})
        >>> spans = derive_spans([
        ...     ev(0, 0.00, "on_chain_start", "seq", "a"),
        ...     ev(1, 0.01, "on_chat_model_start", "llm", "b", ["a"]),
        ...     ev(2, 0.05, "on_chat_model_stream", "llm", "b", ["a"]),
        ...     ev(3, 0.09, "on_chat_model_end", "llm", "b", ["a"]),
        ...     ev(4, 0.10, "on_chain_end", "seq", "a"),
        ... ])
        >>> [(s.name, s.depth, s.parent_id, s.ticks_s) for s in spans]
        [('seq', 0, None, []), ('llm', 1, 'a', [0.05])]
        >>> round(spans[1].duration_s(), 2)
        0.08
    """
    spans: dict[str, RunSpan] = {}
    ancestry: dict[str, tuple[str, ...]] = {}
    for e in events:
        span = spans.get(e.run_id)
        if span is None:
            span = spans[e.run_id] = RunSpan(
                run_id=e.run_id,
                name=e.name,
                run_type=e.run_type if e.phase != "custom" else "chain",
                parent_id=None,
                start_s=e.at_s,
            )
            ancestry[e.run_id] = e.parent_ids
        phase = e.phase
        if phase == "start":
            span.name, span.run_type = e.name, e.run_type
        elif phase == "stream":
            span.ticks_s.append(e.at_s)
        elif phase == "end":
            span.end_s = e.at_s
        elif phase == "error":
            span.end_s, span.failed = e.at_s, True
        elif phase == "custom":
            span.custom.append((e.at_s, e.name))
    for run_id, span in spans.items():
        span.parent_id = next((p for p in reversed(ancestry[run_id]) if p in spans), None)
        if run_id == failed_run_id:
            span.failed = True
    children: dict[str | None, list[RunSpan]] = {}
    for span in spans.values():
        children.setdefault(span.parent_id, []).append(span)
    ordered: list[RunSpan] = []

    def visit(parent: str | None, depth: int) -> None:
        for child in sorted(children.get(parent, []), key=lambda s: s.start_s):
            child.depth = depth
            ordered.append(child)
            visit(child.run_id, depth + 1)

    visit(None, 0)
    return ordered


# ---------------------------------------------------------------------------------------------
# Readable summaries and JSON
# ---------------------------------------------------------------------------------------------

SUMMARY_CHARS = 140


def summarize(event: str, data: Any, secrets: tuple[str, ...] = ()) -> str:
    """One readable line about an event's `data`: what went in, the chunk, or what came out.

    Example:
        >>> summarize("on_chain_start", {"input": {"topic": "cats"}})
        'in: topic=“cats”'
        >>> from langchain_core.messages import AIMessageChunk
        >>> summarize("on_chat_model_stream", {"chunk": AIMessageChunk(content="Why")})
        "'Why'"
        >>> summarize("on_tool_error", {"error": ValueError("boom")})
        'error: ValueError: boom'
    """
    if event == "on_custom_event" or not isinstance(data, Mapping):
        return _clip(_describe(data))
    if data.get("error") is not None:
        error = data["error"]
        return _clip(f"error: {type(error).__name__}: {redact(str(error), *secrets)}")
    if "chunk" in data:
        return _clip(_describe_chunk(data["chunk"]))
    if "output" in data:
        return _clip("out: " + _describe(data["output"]))
    if "input" in data:
        return _clip("in: " + _describe(data["input"]))
    return ""


def _clip(text: str) -> str:
    text = " ".join(text.split())  # one line: newlines from model text would break the table
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


_message_text = message_text  # the one reading of a message's text (core.tracing)


def _chunk_text(chunk: Any) -> str:
    if isinstance(chunk, BaseMessage):
        return _message_text(chunk)
    return chunk if isinstance(chunk, str) else ""


def _usage_text(message: BaseMessage) -> str:
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return ""
    return f"usage {usage.get('input_tokens', '?')} in · {usage.get('output_tokens', '?')} out"


def _describe_chunk(chunk: Any) -> str:
    if isinstance(chunk, BaseMessage):
        text = _message_text(chunk)
        if text:
            return repr(text)
        notes = [_usage_text(chunk)]
        finish = (chunk.response_metadata or {}).get("finish_reason")
        if finish:
            notes.append(f"finish_reason={finish}")
        notes = [n for n in notes if n]
        return "(empty chunk" + (": " + ", ".join(notes) if notes else "") + ")"
    if isinstance(chunk, str):
        return repr(chunk) if chunk else "(empty chunk)"
    return _describe(chunk)


def _quote(text: str) -> str:
    # Curly quotes: text with apostrophes stays readable (repr would escape them).
    return f"“{text}”"


def _role(message: BaseMessage) -> str:
    # AIMessageChunk.type is "AIMessageChunk"; AIMessage.type is "ai".
    return message.type.removesuffix("MessageChunk").lower()


def _describe(value: Any, depth: int = 0) -> str:
    if isinstance(value, BaseMessage):
        text = f"{_role(value)}: {_quote(_message_text(value))}"
        extras = [_usage_text(value)]
        finish = (getattr(value, "response_metadata", None) or {}).get("finish_reason")
        if finish:
            extras.append(f"finish_reason={finish}")
        extras = [x for x in extras if x]
        return text + (f" ({', '.join(extras)})" if extras else "")
    if isinstance(value, PromptValue):
        return " / ".join(_describe(m, depth + 1) for m in value.to_messages())
    if isinstance(value, Mapping):
        if set(value) == {"messages"}:  # chat model start: {"messages": [[...]]}
            batches = value["messages"]
            flat = [m for batch in batches for m in (batch if isinstance(batch, list) else [batch])]
            return " / ".join(_describe(m, depth + 1) for m in flat)
        if depth > 1:
            return "{…}"
        return ", ".join(f"{k}={_describe(v, depth + 1)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        if depth > 1:
            return "[…]"
        return "[" + ", ".join(_describe(v, depth + 1) for v in value) + "]"
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "—"
    return repr(value)


def jsonable(value: Any, secrets: tuple[str, ...] = (), _depth: int = 0) -> Any:
    """`value` as JSON-safe data: messages and prompt values dumped, errors as type + message.

    Example:
        >>> from langchain_core.messages import AIMessageChunk
        >>> jsonable({"chunk": AIMessageChunk(content="hi")})["chunk"]["content"]
        'hi'
        >>> jsonable(ValueError("bad key sk-abcdef123456"))
        {'error_type': 'ValueError', 'message': 'bad key [redacted]'}
    """
    if _depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, BaseException):
        return {"error_type": type(value).__name__, "message": redact(str(value), *secrets)}
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, secrets, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, secrets, _depth + 1) for v in value]
    if isinstance(value, BaseModel):
        try:
            dumped = value.model_dump()
        except Exception:  # some models hold values pydantic cannot dump; show them as text
            return repr(value)
        if isinstance(value, BaseMessage):
            dumped = {"type": value.type, **{k: v for k, v in dumped.items() if v not in (None, {}, [])}}
        return jsonable(dumped, secrets, _depth + 1)
    return repr(value)
