"""`EventRecorder`: keeps every event of one run, stamped on receipt, and the error that ended it.

Version 2 has no event for a failing model call: the exception is raised from the iterator
itself. The recorder catches it, keeps the events received so far, and names the step it came
from (the run that reported an error event, else the deepest run still open).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any

from core.call.errors import CallProblem, explain_error
from core.call.trace import CallTrace
from core.call.tracing import CallTracer
from core.patterns.events.exports import events_csv, events_jsonl
from core.patterns.events.recorded import RecordedEvent, short_id
from core.patterns.events.spans import RunSpan, derive_spans
from core.patterns.events.summaries import chunk_text, summarize

Clock = Callable[[], float]



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
        return self._clock() - self._start  # type: ignore[operator]  # start() has just set it

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
                self.error = trace.outcome.problem  # type: ignore[union-attr]  # `cut` holds traces with an outcome
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
                and chunk_text(e.data.get("chunk"))
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
        """Every recorded event, one JSON object per line (`core.patterns.events.exports.events_jsonl`)."""
        return events_jsonl(self.events, self.secrets)

    def to_csv(self) -> str:
        """Every recorded event as CSV (`core.patterns.events.exports.events_csv`)."""
        return events_csv(self.events)
