"""What a batch job is made of: row and job statuses, row results, job and sweep headers.

Plain frozen records, read from the store (`core.batch.store`) and drawn by the page.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.call.errors import CallProblem
from core.call.failures import FailureGroup, outcome_label, problem_from_stored, summarize_failures
from core.call.run import Run
from core.call.trace import COMPLETE, FAILED, CallTrace, Outcome, StreamChunk
from core.call.usage import Usage

DB_NAME = "batch.sqlite3"

CostFunction = Callable[[Usage | None], float | None]


class RowStatus(str, enum.Enum):
    """Where one row of a job is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunKind(str, enum.Enum):
    """What a stored run is, saved with it (files made before kinds were stored are migrated when
    opened: a job linked to a sweep is one of its levels, every other job is a batch)."""

    BATCH = "batch"  # a batch job started from the page: listed among the saved jobs
    SWEEP_LEVEL = "sweep_level"  # one concurrency level of a sweep: shown with its sweep only
    SWEEP = "sweep"  # a sweep: the same prompts at several levels, one job per level


class JobStatus(str, enum.Enum):
    """Where a whole job is. `interrupted`: the app stopped while it ran (rows kept)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class RowResult:
    """One row of a job: its prompt and, once it ran, what came back.

    Attributes:
        index: 0-based position in the job.
        line: the line of the source file the prompt came from.
        latency_s: from the call's start to its end (None if it never started).
        cost_usd: from the price table; None when there is no price or no usage.
        error: the error in plain words, keys redacted.
        attempts: how many times the row's call was started.
    """

    job_id: str
    index: int
    line: int
    input: str
    status: RowStatus
    output: str | None = None
    latency_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    model: str | None = None
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    error_fix: str | None = None

    @property
    def usage_reported(self) -> bool:
        return self.input_tokens is not None

    @property
    def problem(self) -> CallProblem | None:
        """A failed row's cause, kind, title and fix, for `core.call.failures`; None otherwise."""
        if self.status is not RowStatus.FAILED:
            return None
        return problem_from_stored(self.error_kind, self.error, self.error_fix)

    def as_trace(self, chunk_times_s: Sequence[float] | None = None) -> CallTrace | None:
        """The row's call, rebuilt as a `CallTrace` from what the store kept, so its figures are
        the trace's like every other call's; None for a row that never finished running.

        The store keeps the latency (from LangChain's run start, the rebuilt trace's origin),
        usage, finish reason, model and problem and, for a streamed row (`store.row_marks`),
        when each text chunk came on the same origin — not the chunks' text, so they are
        `text_not_kept` chunks. A row run whole has no chunks: its TTFT is not observed.

        Example:
            >>> row = RowResult("j", 0, 1, "q", RowStatus.DONE, "ab", latency_s=1.0, input_tokens=3,
            ...                 output_tokens=5, total_tokens=8, finish_reason="stop")
            >>> t = row.as_trace([0.2, 0.4, 0.6])
            >>> t.ttft_s, t.e2e_s, t.output_tokens, round(t.tpot_s, 3)
            (0.2, 1.0, 5, 0.2)
            >>> row.as_trace().ttft_s is None, RowResult("j", 1, 2, "q", RowStatus.QUEUED).as_trace()
            (True, None)
        """
        if self.status not in (RowStatus.DONE, RowStatus.FAILED):
            return None
        reported = self.input_tokens is not None or self.output_tokens is not None
        usage = Usage(self.input_tokens or 0, self.output_tokens or 0, self.total_tokens or 0) if reported else None
        problem = self.problem
        return CallTrace(
            f"{self.job_id}:row:{self.index}", pattern="batch", model_requested=self.model or "",
            origin=0.0, finished=self.latency_s, streamed=chunk_times_s is not None,
            chunks=[StreamChunk(at, "", text_not_kept=True) for at in chunk_times_s or ()],
            outcome=Outcome(FAILED if problem is not None else COMPLETE, self.output or "", usage,
                            self.finish_reason, self.model, problem),
            tags=[f"row:{self.index}"],
        )


@dataclass(frozen=True)
class JobInfo:
    """A job's header and its row counts.

    Attributes:
        source: where the prompts came from, for people.
        endpoint: provider and model label (never a key).
        wall_s: wall time of the latest run of the job (first run, or a retry).
        counts: rows per status.
        priced: whether a price was known for the model when the job started.
        owner: the visitor who made it (`core.security.access`), None when unknown; `shared`: every
            visitor may see it.
    """

    id: str
    created_at: float
    source: str
    endpoint: str
    model: str
    max_concurrency: int
    retries: int
    status: JobStatus
    n_rows: int
    counts: dict[RowStatus, int]
    started_at: float | None = None
    finished_at: float | None = None
    wall_s: float | None = None
    priced: bool = False
    price_note: str = ""
    sweep_id: str | None = None
    cancel_requested: bool = False
    problem: str | None = None
    kind: RunKind = RunKind.BATCH
    owner: str | None = None
    shared: bool = False

    def count(self, status: RowStatus) -> int:
        return self.counts.get(status, 0)

    def saved_row(self) -> dict[str, Any]:
        """The job as one row of the saved-jobs table (wall time None until a run ended).

        Example:
            >>> job = JobInfo("j1", 0.0, "questions.csv", "Local", "m", 4, 0, JobStatus.DONE, 3,
            ...               {RowStatus.DONE: 2, RowStatus.FAILED: 1}, wall_s=1.234)
            >>> job.saved_row()
            {'job': 'j1', 'source': 'questions.csv', 'endpoint': 'Local', 'status': 'finished with failures', 'rows': 3, 'done': 2, 'failed': 1, 'wall time (s)': 1.23}
        """
        return {
            "job": self.id,
            "source": self.source,
            "endpoint": self.endpoint,
            "status": self.outcome,
            "rows": self.n_rows,
            "done": self.count(RowStatus.DONE),
            "failed": self.count(RowStatus.FAILED),
            "wall time (s)": None if self.wall_s is None else round(self.wall_s, 2),
        }

    @property
    def completed(self) -> int:
        """Rows that ended, one way or another."""
        return sum(self.count(s) for s in (RowStatus.DONE, RowStatus.FAILED, RowStatus.CANCELLED))

    @property
    def progress(self) -> float:
        return self.completed / self.n_rows if self.n_rows else 1.0

    @property
    def outcome(self) -> str:
        """The status in words: a finished job with failed rows never reads "done".

        "done" (every row succeeded), "finished with failures", "failed" (no row succeeded, or
        the runner itself broke), else the status as it is ("running", "cancelled", ...).

        Example:
            >>> job = JobInfo("j", 0.0, "s", "e", "m", 4, 0, JobStatus.DONE, 3,
            ...               {RowStatus.DONE: 1, RowStatus.FAILED: 2})
            >>> job.outcome
            'finished with failures'
        """
        if self.status is JobStatus.DONE:
            return outcome_label(self.count(RowStatus.DONE), self.count(RowStatus.FAILED))
        return self.status.value


def row_failures(rows: Sequence[RowResult]) -> list[FailureGroup]:
    """The failed rows grouped by cause, the most frequent first (see `core.call.failures`).

    Example:
        >>> rows = [RowResult("j", i, i + 1, "q", RowStatus.FAILED, error="Timed out: read timed out",
        ...                   error_kind="timeout") for i in range(2)]
        >>> [(g.title, g.count) for g in row_failures(rows)]
        [('Timed out', 2)]
    """
    return summarize_failures(r.problem for r in rows)



def run_of(job: JobInfo, rows: Iterable[RowResult], marks: Mapping[int, Sequence[float]] | None = None,
           *, label: str = "") -> Run:
    """A job's rows that ran, each rebuilt as a trace (`RowResult.as_trace`, with its chunk marks
    when given), as one `Run`. Rebuilt rows keep no start time of their own, so the run's wall
    time is the job's."""
    traces = (r.as_trace((marks or {}).get(r.index)) for r in rows)
    return Run(label or job.id, [t for t in traces if t is not None], started=0.0, ended=job.wall_s)


@dataclass(frozen=True)
class SweepPoint:
    """One concurrency level of a sweep: its job, and its rows that ran as a `Run` (each rebuilt
    with `RowResult.as_trace`, chunk marks included; the level's wall time is the job's)."""

    job: JobInfo
    run: Run

    @property
    def concurrency(self) -> int:
        return self.job.max_concurrency

    @property
    def throughput(self) -> float | None:
        """Completed calls per second of wall time."""
        done = self.job.count(RowStatus.DONE)
        return done / self.job.wall_s if self.job.wall_s and done else None


@dataclass(frozen=True)
class SweepInfo:
    """The same prompts run at several `max_concurrency` values, one job per level."""

    id: str
    created_at: float
    source: str
    endpoint: str
    levels: list[int]
    n_rows: int
    status: JobStatus
    points: list[SweepPoint]
    note: str = ""
    problem: str | None = None  # why the sweep failed outside its levels' calls, when it did
    owner: str | None = None
    cancel_requested: bool = False

    @property
    def outcome(self) -> str:
        """Like `JobInfo.outcome`, over every level: failed calls at any level are said."""
        if self.status is not JobStatus.DONE:
            return self.status.value
        done = sum(p.job.count(RowStatus.DONE) for p in self.points)
        failed = sum(p.job.count(RowStatus.FAILED) for p in self.points)
        return outcome_label(done, failed)

    @property
    def per_call_s(self) -> float | None:
        """The single-call latency the ideal line is drawn from: the median at the lowest level."""
        finished = [p for p in self.points if p.job.status is JobStatus.DONE and p.run.median_e2e_s]
        if not finished:
            return None
        return min(finished, key=lambda p: p.concurrency).run.median_e2e_s
