"""The session ledger: one record per model call, made on any page, with its call trace.

Calls are recorded by the one timing callback (`core.tracing.CallTracer`) passed in the call's
`RunnableConfig`, so `invoke`, `stream`, `batch`, `ainvoke`, `abatch` and chains inside
`astream_events` all report the same way, including calls that run on LangChain's worker
threads. Each record keeps the call's `CallTrace`, so any page's calls can be aggregated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from core.trace import CallTrace
from core.untrusted import csv_text
from core.usage import Usage

if TYPE_CHECKING:  # core.tracing loads httpx2 and langchain_core (~0.5 s): at the first call instead
    from core.tracing import CallTracer


@dataclass(frozen=True)
class CallRecord:
    """One model call as the ledger keeps it.

    Attributes:
        pattern: the page that made it ("streaming", "batch", ...).
        provider: provider label at the time of the call.
        model: model name the endpoint reported (or the one requested).
        started_at: wall-clock start, seconds since the epoch.
        latency_s: start to end (or to error).
        usage: token counts, or None when the endpoint did not report usage.
        finish_reason: "stop", "length", ... or None if unknown.
        error: the error's type and message when the call failed, else None.
        streamed: the call streamed tokens (so missing usage means no usage chunk came).
        model_reported: the response named its model; when False `model` is the requested
            name (LangChain's own usage callback drops such calls; the ledger keeps them).
        status: "complete", "incomplete" (a stream that ended without a finish reason) or
            "failed".
        trace: the call's full trace (marks, server and proxy reports).
        cache_hit: answered from LangChain's cache (`core.caching`): no request, nothing billed.
    """

    run_id: str
    pattern: str
    provider: str
    model: str
    started_at: float
    latency_s: float
    usage: Usage | None
    finish_reason: str | None
    error: str | None = None
    streamed: bool = False
    model_reported: bool = True
    status: str = "complete"
    trace: CallTrace | None = field(default=None, repr=False, compare=False)
    cache_hit: bool = False

    @property
    def usage_reported(self) -> bool:
        return self.usage is not None

    @classmethod
    def from_trace(cls, trace: CallTrace) -> CallRecord:
        """The ledger's view of a finished trace.

        Latency is LangChain's model run, start to end (or error), as the ledger always showed.
        """
        outcome = trace.outcome
        start = trace.lc_start if trace.lc_start is not None else trace.origin
        end = trace.lc_end if trace.lc_end is not None else (trace.end or start)
        reported = outcome.model if outcome is not None else None
        return cls(
            run_id=trace.run_id,
            pattern=trace.pattern,
            provider=trace.provider,
            model=str(reported or trace.model_requested),
            started_at=trace.started_wall,
            latency_s=end - start,
            usage=outcome.usage if outcome else None,
            finish_reason=outcome.finish_reason if outcome else None,
            error=outcome.problem.as_text() if outcome and outcome.problem else None,
            streamed=trace.streamed,
            model_reported=bool(reported),
            status=trace.status,
            trace=trace,
            cache_hit=_is_cache_hit(outcome.response_metadata if outcome else None),
        )


#: Calls whose full trace (every chunk) the ledger keeps; older ones keep their figures.
FULL_TRACES = 200


class SessionLedger:
    """Thread-safe list of `CallRecord`s for one browser session.

    Example:
        >>> ledger = SessionLedger()
        >>> handler = ledger.callback(pattern="streaming", provider="Local")
        >>> len(ledger)
        0
    """

    def __init__(self, full_traces: int = FULL_TRACES) -> None:
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()
        self._full_traces = full_traces

    def add(self, record: CallRecord) -> None:
        """Keep a call; the call `full_traces` places back keeps its figures, not its chunks.

        A session may make thousands of calls (a 1,000-row sweep joins the ledger): each full
        trace holds every chunk, so only the newest ones stay whole (`CallTrace.compacted`).
        """
        with self._lock:
            self._records.append(record)
            older = len(self._records) - 1 - self._full_traces
            if older >= 0 and self._records[older].trace is not None:
                previous = self._records[older]
                self._records[older] = replace(previous, trace=previous.trace.compacted())  # type: ignore[union-attr]  # checked above

    def add_trace(self, trace: CallTrace) -> None:
        """Record a finished call from its trace (the tracer's sink)."""
        self.add(CallRecord.from_trace(trace))

    def traces(self) -> list[CallTrace]:
        """The traces of every recorded call, oldest first."""
        return [r.trace for r in self.records() if r.trace is not None]

    def records(self) -> list[CallRecord]:
        """A snapshot, oldest first."""
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(self.records())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def callback(
        self, *, pattern: str, provider: str, secrets: tuple[str, ...] = ()
    ) -> CallTracer:
        """The timing callback, recording every chat-model call it sees into this ledger.

        `secrets` (the endpoint's keys) are removed from recorded error messages: an endpoint's
        401 message may quote the key, and the ledger is exported as CSV.
        """
        from core.tracing import CallTracer

        return CallTracer(pattern=pattern, provider=provider, secrets=secrets, sink=self.add_trace)

    def to_csv(self) -> str:
        """All records as CSV text (no keys or prompts: only what the ledger holds)."""
        rows = []
        for r in self.records():
            u = r.usage
            rows.append(
                [
                    time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(r.started_at)),
                    r.pattern,
                    r.provider,
                    r.model,
                    f"{r.latency_s:.3f}",
                    "reported" if u else "not reported",
                    u.input_tokens if u else "",
                    u.cached_input_tokens if u else "",
                    u.output_tokens if u else "",
                    u.reasoning_tokens if u else "",
                    u.total_tokens if u else "",
                    r.finish_reason or "",
                    r.status,
                    r.error or "",
                ]
            )
        return csv_text(LEDGER_CSV_COLUMNS, rows)


LEDGER_CSV_COLUMNS = (
    "started_at", "pattern", "provider", "model", "latency_s", "usage_reported", "input_tokens",
    "cached_input_tokens", "output_tokens", "reasoning_tokens", "total_tokens", "finish_reason",
    "status", "error",
)


def _is_cache_hit(response_metadata: dict[str, object] | None) -> bool:
    """`core.caching.is_cache_hit`, imported at the first record (it loads langchain_core's caches)."""
    from core.caching import is_cache_hit

    return is_cache_hit(response_metadata)
