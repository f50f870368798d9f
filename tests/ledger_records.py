"""Ledger records for tests: a `CallRecord` is a call's trace, so each one is built from a trace."""

from __future__ import annotations

from core.call.failures import problem_from_stored
from core.call.trace import CallTrace, Outcome
from core.call.usage import Usage
from core.money.ledger import CallRecord


def ledger_record(
    run_id: str, pattern: str, provider: str, model: str, started_at: float, latency_s: float,
    usage: Usage | None, finish_reason: str | None, *, error: str | None = None, streamed: bool = False,
    model_reported: bool = True, status: str = "complete", cache_hit: bool = False,
) -> CallRecord:
    """A call that started at `started_at` (wall clock) and took `latency_s`, as the tracer keeps it."""
    problem = problem_from_stored("unexpected", error) if error else None
    outcome = Outcome("failed" if error else status, usage=usage, finish_reason=finish_reason,
                      model=model if model_reported else None, problem=problem)
    trace = CallTrace(run_id, pattern=pattern, provider=provider, model_requested=model, origin=0.0,
                      started_wall=started_at, lc_start=0.0, lc_end=latency_s, streamed=streamed, outcome=outcome)
    return CallRecord(trace, cache_hit=cache_hit)
