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

from core.batch_jobs import JobStore, RowResult, RowStatus, SweepInfo, SweepPoint
from core.stats import CallMarks, CallMetrics, Goodput, RunSummary, Slo, call_metrics, goodput, summarize


@dataclass(frozen=True)
class LoadPoint:
    """One concurrency level's load figures.

    Attributes:
        concurrency: the level (`max_concurrency`).
        wall_s: the level's wall time (first call started → last call ended).
        metrics: per-call metrics of every row that started (failed ones included).
        streamed: how many rows had their chunks observed (TTFT and ITL need them).
    """

    concurrency: int
    wall_s: float | None
    metrics: tuple[CallMetrics, ...]
    streamed: int
    finished: bool

    @property
    def summary(self) -> RunSummary:
        return summarize(self.metrics)

    @property
    def calls(self) -> int:
        return len(self.metrics)

    @property
    def failed(self) -> int:
        return sum(1 for m in self.metrics if not m.ok)

    @property
    def request_throughput(self) -> float | None:
        """Successful calls per second of wall time."""
        done = self.calls - self.failed
        return done / self.wall_s if self.wall_s and done else None

    @property
    def output_tokens_per_s(self) -> float | None:
        """All output tokens of successful calls (usage, else text chunks) per second of wall time."""
        tokens = [m.output_tokens for m in self.metrics if m.ok and m.output_tokens is not None]
        return sum(tokens) / self.wall_s if self.wall_s and tokens else None

    def goodput(self, slo: Slo) -> Goodput:
        return goodput(self.metrics, slo, self.wall_s)


def row_metrics(row: RowResult, chunk_times_s: Sequence[float] | None) -> CallMetrics | None:
    """One row's metrics; None for a row that never started (queued or cancelled)."""
    if row.status not in (RowStatus.DONE, RowStatus.FAILED):
        return None
    marks = CallMarks(
        ok=row.status is RowStatus.DONE,
        e2e_s=row.latency_s,
        chunk_times_s=tuple(chunk_times_s or ()),
        reported_output_tokens=row.output_tokens,
        error=row.error,
        streamed=chunk_times_s is not None,
    )
    return call_metrics(marks)


def load_point(store: JobStore, point: SweepPoint) -> LoadPoint:
    """The load figures of one sweep level, from its rows and their chunk marks."""
    marks = store.row_marks(point.job.id)
    metrics = []
    for row in store.rows(point.job.id):
        m = row_metrics(row, marks.get(row.index))
        if m is not None:
            metrics.append(m)
    return LoadPoint(
        concurrency=point.concurrency, wall_s=point.job.wall_s, metrics=tuple(metrics),
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
        >>> from core.stats import CallMarks, call_metrics
        >>> ok = call_metrics(CallMarks(ok=True, e2e_s=0.5, chunk_times_s=(0.1, 0.2)))
        >>> a = LoadPoint(1, 2.0, (ok, ok), 2, True)
        >>> b = LoadPoint(4, 1.0, (ok, ok), 2, True)
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
