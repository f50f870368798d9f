"""The session ledger: one record per model call, made on any page, with its call trace.

Calls are recorded by the one timing callback (`core.call.tracing.CallTracer`) passed in the call's
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

from core.call.trace import CallTrace
from core.call.usage import Usage
from core.security.untrusted import csv_text

if TYPE_CHECKING:  # core.call.tracing loads httpx2 and langchain_core (~0.5 s): at the first call instead
    from core.call.tracing import CallTracer


@dataclass(frozen=True)
class CallRecord:
    """One model call as the ledger keeps it: its trace, read for everything the ledger shows.

    Attributes:
        trace: the call's trace (outcome, marks, server and proxy reports); its ``e2e_s`` is
            the latency the ledger shows.
        cache_hit: answered from LangChain's cache (`core.patterns.caching`): no request, nothing billed.
    """

    trace: CallTrace = field(repr=False, compare=False)
    cache_hit: bool = False

    @classmethod
    def from_trace(cls, trace: CallTrace) -> CallRecord:
        """The ledger's record of a finished trace."""
        outcome = trace.outcome
        return cls(trace, cache_hit=is_cache_hit(outcome.response_metadata if outcome else None))

    @property
    def run_id(self) -> str:
        return self.trace.run_id

    @property
    def pattern(self) -> str:
        """The page that made it ("streaming", "batch", ...)."""
        return self.trace.pattern

    @property
    def provider(self) -> str:
        return self.trace.provider

    @property
    def model(self) -> str:
        """The model the endpoint reported, else the one requested."""
        return self.trace.model or ""

    @property
    def model_reported(self) -> bool:
        """The response named its model (LangChain's own usage callback drops calls that do not;
        the ledger keeps them)."""
        return bool(self.trace.outcome and self.trace.outcome.model)

    @property
    def started_at(self) -> float:
        """Wall-clock start, seconds since the epoch."""
        return self.trace.started_wall

    @property
    def usage(self) -> Usage | None:
        """Token counts, or None when the endpoint did not report usage."""
        return self.trace.usage

    @property
    def usage_reported(self) -> bool:
        return self.usage is not None

    @property
    def finish_reason(self) -> str | None:
        return self.trace.finish_reason

    @property
    def error(self) -> str | None:
        """The problem in words when the call failed (or came back incomplete), else None."""
        problem = self.trace.problem
        return problem.as_text() if problem is not None else None

    @property
    def streamed(self) -> bool:
        """The call streamed tokens (so missing usage means no usage chunk came)."""
        return self.trace.streamed

    @property
    def status(self) -> str:
        """"complete", "incomplete" (a stream that ended without a finish reason) or "failed"."""
        return self.trace.status


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
            if older >= 0:
                previous = self._records[older]
                self._records[older] = replace(previous, trace=previous.trace.compacted())

    def add_trace(self, trace: CallTrace) -> None:
        """Record a finished call from its trace (the tracer's sink)."""
        self.add(CallRecord.from_trace(trace))

    def traces(self) -> list[CallTrace]:
        """The traces of every recorded call, oldest first."""
        return [r.trace for r in self.records()]

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
        from core.call.tracing import CallTracer

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
                    "" if r.trace.e2e_s is None else f"{r.trace.e2e_s:.3f}",
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


#: The key `core.patterns.caching.MarkedInMemoryCache` sets in a cached answer's response_metadata.
CACHE_HIT_KEY = "cache_hit"


def is_cache_hit(response_metadata: dict[str, object] | None) -> bool:
    """Whether a message came from the cache (`core.patterns.caching.MarkedInMemoryCache` marks them).

    Example:
        >>> is_cache_hit({"cache_hit": True}), is_cache_hit({}), is_cache_hit(None)
        (True, False, False)
    """
    return bool((response_metadata or {}).get(CACHE_HIT_KEY))
