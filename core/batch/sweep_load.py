"""Load figures of a concurrency sweep: throughput, latency percentiles and goodput per level.

Each level of a sweep is a batch job whose rows were streamed (the sweep builds its model with
`streaming=True`, and each row's callback stamps its text chunks), so TTFT and TPOT are
observed per row. A row run whole (an older sweep, or a plain batch job) has only its latency:
its TTFT is "not observed", never made up. Failed rows are counted and left out of the latency
figures; they count against goodput. Cancelled rows never started and are left out entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.batch import JobStore, SweepInfo, SweepPoint
from core.call.run import Run
from core.call.stats import Goodput, RunSummary, Slo


@dataclass(frozen=True)
class LoadPoint:
    """One concurrency level: its calls as a `Run`, and what the level was.

    Attributes:
        concurrency: the level (`max_concurrency`).
        run: every row that ran, rebuilt as traces (`RowResult.as_trace`), failed ones
            included; its wall time is the level's (first call started → last call ended).
        streamed: how many rows had their chunks observed (TTFT and ITL need them).
        finished: the level's job has finished.
    """

    concurrency: int
    run: Run
    streamed: int
    finished: bool

    @property
    def calls(self) -> int:
        return self.run.count

    @property
    def failed(self) -> int:
        return self.run.failed

    @property
    def summary(self) -> RunSummary:
        return self.run.summary

    @property
    def request_throughput(self) -> float | None:
        return self.run.request_throughput

    @property
    def output_token_throughput(self) -> float | None:
        return self.run.output_token_throughput

    def goodput(self, slo: Slo) -> Goodput:
        return self.run.goodput(slo)


def load_point(store: JobStore, point: SweepPoint) -> LoadPoint:
    """The load figures of one sweep level, from its run (its rows with their chunk marks)."""
    marks = store.row_marks(point.job.id)
    return LoadPoint(
        concurrency=point.concurrency, run=point.run,
        streamed=sum(1 for r in store.rows(point.job.id) if r.index in marks),
        finished=point.job.status.finished,
    )


def load_points(store: JobStore, sweep: SweepInfo) -> list[LoadPoint]:
    """Every level run so far, lowest concurrency first."""
    return sorted((load_point(store, p) for p in sweep.points), key=lambda p: p.concurrency)


def goodput_peak(points: Sequence[LoadPoint], slo: Slo) -> LoadPoint | None:
    """The finished level with the highest goodput rate (the lowest level on a tie); None if no
    level had a good call.

    Example:
        >>> from core.call.trace import CallTrace, Outcome
        >>> def ok() -> CallTrace:
        ...     return CallTrace("r", origin=0.0, finished=0.5, outcome=Outcome("complete"))
        >>> a = LoadPoint(1, Run("c = 1", [ok(), ok()], started=0.0, ended=2.0), 2, True)
        >>> b = LoadPoint(4, Run("c = 4", [ok(), ok()], started=0.0, ended=1.0), 2, True)
        >>> goodput_peak([a, b], Slo(e2e_s=1)).concurrency
        4
    """
    best: LoadPoint | None = None
    best_rate = 0.0
    for point in points:
        if not point.finished:
            continue
        rate = point.goodput(slo).rate_per_s or 0.0
        if rate > best_rate:
            best, best_rate = point, rate
    return best


def all_failed(points: Sequence[LoadPoint]) -> bool:
    """True when calls ran and every one of them failed."""
    calls = sum(p.calls for p in points)
    return calls > 0 and all(p.failed == p.calls for p in points)
