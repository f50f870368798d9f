"""Durable batch jobs: a SQLite job store and a runner on a background thread.

A Streamlit script run stops at every widget click, so a batch of hundreds of calls cannot live
inside one. Here a job is a set of rows in SQLite (under the data directory), and a worker
thread — outside any script run — drives `llm.batch_as_completed(...)` and writes each row as it
completes. The page only reads the store, so a rerun, a page switch or a reloaded browser tab
finds the job where it is, and finished rows are never lost.

Row lifecycle: queued → running → done | failed | cancelled. A per-row callback handler marks a
row running when its call really starts (`on_chat_model_start`), which is also where a cancel
takes effect: rows that have not started are stopped there, rows already running finish and are
kept.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import math
import os
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from core.errors import CallProblem, explain_error, redact
from core.failures import FailureGroup, outcome_label, problem_from_stored, summarize_failures
from core.paths import data_dir
from core.trace import CallTrace
from core.tracing import ensure_tracer, outcome_of
from core.usage import Usage

DB_NAME = "batch.sqlite3"

CostFunction = Callable[[Usage | None], float | None]


class RowStatus(str, enum.Enum):
    """Where one row of a job is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


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
        """A failed row's cause, kind, title and fix, for `core.failures`; None otherwise."""
        if self.status is not RowStatus.FAILED:
            return None
        return problem_from_stored(self.error_kind, self.error, self.error_fix)


@dataclass(frozen=True)
class JobInfo:
    """A job's header and its row counts.

    Attributes:
        source: where the prompts came from, for people.
        endpoint: provider and model label (never a key).
        wall_s: wall time of the latest run of the job (first run, or a retry).
        counts: rows per status.
        priced: whether a price was known for the model when the job started.
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

    def count(self, status: RowStatus) -> int:
        return self.counts.get(status, 0)

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
    """The failed rows grouped by cause, the most frequent first (see `core.failures`).

    Example:
        >>> rows = [RowResult("j", i, i + 1, "q", RowStatus.FAILED, error="Timed out: read timed out",
        ...                   error_kind="timeout") for i in range(2)]
        >>> [(g.title, g.count) for g in row_failures(rows)]
        [('Timed out', 2)]
    """
    return summarize_failures(r.problem for r in rows)


_STORES: dict[Path, JobStore] = {}
_STORES_LOCK = threading.Lock()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    source TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    max_concurrency INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    status TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    started_at REAL,
    finished_at REAL,
    wall_s REAL,
    priced INTEGER NOT NULL DEFAULT 0,
    price_note TEXT NOT NULL DEFAULT '',
    sweep_id TEXT,
    owner_pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    problem TEXT
);
CREATE TABLE IF NOT EXISTS rows (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    line INTEGER NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    output TEXT,
    latency_s REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    cost_usd REAL,
    finish_reason TEXT,
    model TEXT,
    error TEXT,
    error_kind TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error_fix TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    source TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    levels TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    status TEXT NOT NULL,
    owner_pid INTEGER,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS row_marks (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    chunk_times TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs(created_at);
"""


class JobStore:
    """Jobs and their rows in one SQLite file; safe to use from several threads.

    Each operation opens its own short connection (SQLite connections must not cross threads),
    in WAL mode so the page can read while the worker writes.

    Example:
        >>> import tempfile
        >>> store = JobStore(Path(tempfile.mkdtemp()) / "batch.sqlite3")
        >>> job_id = store.create_job(["What is 2 + 2?"], source="doctest", endpoint="Local",
        ...                           model="m", max_concurrency=1)
        >>> store.job(job_id).status.value, [r.status.value for r in store.rows(job_id)]
        ('queued', ['queued'])
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            # Stores made before rows kept their fix get the column (SQLite adds it in place).
            if "error_fix" not in {r["name"] for r in db.execute("PRAGMA table_info(rows)")}:
                db.execute("ALTER TABLE rows ADD COLUMN error_fix TEXT")
        # Writes go through one connection, one at a time: with up to `max_concurrency` worker
        # threads finishing together, SQLite's own lock would make them back off in sleeps of
        # several milliseconds; a Python lock queues them for well under one instead.
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None

    @classmethod
    def in_data_dir(cls, env: Mapping[str, str] | None = None) -> JobStore:
        """The store under `data_dir(env)`: one shared object per file in this process, so all
        sessions' jobs queue their writes on the same lock."""
        path = (data_dir(env) / DB_NAME).resolve()
        with _STORES_LOCK:
            store = _STORES.get(path)
            if store is None or not store.path.exists():  # e.g. after `make clean-data`
                store = _STORES[path] = cls(path)
            return store

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            if self._writer is None:
                self._writer = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
                self._writer.row_factory = sqlite3.Row
                self._writer.execute("PRAGMA foreign_keys=ON")
                self._writer.execute("PRAGMA synchronous=NORMAL")
            try:
                yield self._writer
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the writing connection (a later write opens it again)."""
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # -- writing ---------------------------------------------------------------------------

    def create_job(
        self,
        prompts: Sequence[str],
        *,
        source: str,
        endpoint: str,
        model: str,
        max_concurrency: int,
        retries: int = 0,
        line_numbers: Sequence[int] | None = None,
        priced: bool = False,
        price_note: str = "",
        sweep_id: str | None = None,
    ) -> str:
        """Store a new job with all its rows queued; return its id."""
        if not prompts:
            raise ValueError("a job needs at least one prompt")
        lines = list(line_numbers) if line_numbers is not None else list(range(1, len(prompts) + 1))
        job_id = uuid.uuid4().hex[:12]
        with self._writing() as db:
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO jobs (id, created_at, source, endpoint, model, max_concurrency, retries,"
                " status, n_rows, priced, price_note, sweep_id, owner_pid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, time.time(), source, endpoint, model, int(max_concurrency), int(retries),
                 JobStatus.QUEUED.value, len(prompts), int(priced), price_note, sweep_id, os.getpid()),
            )
            db.executemany(
                "INSERT INTO rows (job_id, idx, line, input, status) VALUES (?, ?, ?, ?, ?)",
                [(job_id, i, lines[i], p, RowStatus.QUEUED.value) for i, p in enumerate(prompts)],
            )
            db.execute("COMMIT")
        return job_id

    def _set_job(self, job_id: str, **values: Any) -> None:
        names = ", ".join(f"{k} = ?" for k in values)
        with self._writing() as db:
            db.execute(f"UPDATE jobs SET {names} WHERE id = ?", (*values.values(), job_id))

    def mark_row_running(self, job_id: str, index: int) -> None:
        with self._writing() as db:
            db.execute(
                "UPDATE rows SET status = ?, attempts = attempts + 1 WHERE job_id = ? AND idx = ?",
                (RowStatus.RUNNING.value, job_id, index),
            )

    def save_row(self, job_id: str, index: int, **values: Any) -> None:
        """Record a row's outcome (status, output, usage, cost, error...)."""
        values = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in values.items()}
        names = ", ".join(f"{k} = ?" for k in values)
        with self._writing() as db:
            db.execute(
                f"UPDATE rows SET {names} WHERE job_id = ? AND idx = ?",
                (*values.values(), job_id, index),
            )

    def save_marks(self, job_id: str, index: int, chunk_times_s: Sequence[float]) -> None:
        """Keep a streamed row's text-chunk arrival times (seconds since its call started)."""
        with self._writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO row_marks (job_id, idx, chunk_times) VALUES (?, ?, ?)",
                (job_id, index, json.dumps([round(t, 6) for t in chunk_times_s])),
            )

    def row_marks(self, job_id: str) -> dict[int, list[float]]:
        """Chunk arrival times of the job's streamed rows, by row index (rows invoked whole have none)."""
        with self._connect() as db:
            return {int(r["idx"]): json.loads(r["chunk_times"]) for r in db.execute(
                "SELECT idx, chunk_times FROM row_marks WHERE job_id = ?", (job_id,))}

    def requeue_rows(self, job_id: str, statuses: Sequence[RowStatus]) -> list[int]:
        """Put rows in these statuses back in the queue (their old results cleared)."""
        marks = ", ".join("?" for _ in statuses)
        with self._writing() as db:
            db.execute("BEGIN")
            indices = [
                int(r["idx"])
                for r in db.execute(
                    f"SELECT idx FROM rows WHERE job_id = ? AND status IN ({marks}) ORDER BY idx",
                    (job_id, *(s.value for s in statuses)),
                )
            ]
            db.execute(
                "UPDATE rows SET status = ?, output = NULL, latency_s = NULL, input_tokens = NULL,"
                " output_tokens = NULL, total_tokens = NULL, cost_usd = NULL, finish_reason = NULL,"
                f" error = NULL, error_kind = NULL, error_fix = NULL"
                f" WHERE job_id = ? AND status IN ({marks})",
                (RowStatus.QUEUED.value, job_id, *(s.value for s in statuses)),
            )
            db.execute("COMMIT")
        return indices

    def delete_job(self, job_id: str) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    # -- reading ---------------------------------------------------------------------------

    def job(self, job_id: str) -> JobInfo | None:
        """The job's header and row counts, or None if there is no such job.

        A job still marked running by a process that no longer runs it (the app was stopped
        or crashed) is marked interrupted here: its finished rows stay, the rest can be retried.
        """
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            counts = {
                RowStatus(r["status"]): int(r["n"])
                for r in db.execute(
                    "SELECT status, COUNT(*) AS n FROM rows WHERE job_id = ? GROUP BY status", (job_id,)
                )
            }
        info = _job_from_row(row, counts)
        if info.status is JobStatus.RUNNING and not _owner_runs(row["owner_pid"], job_id):
            self._mark_interrupted(job_id)
            return self.job(job_id)
        return info

    def rows(self, job_id: str) -> list[RowResult]:
        """Every row of the job, in input order."""
        with self._connect() as db:
            found = db.execute("SELECT * FROM rows WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return [_row_result(r) for r in found]

    def prompts(self, job_id: str) -> list[str]:
        with self._connect() as db:
            return [r["input"] for r in db.execute(
                "SELECT input FROM rows WHERE job_id = ? ORDER BY idx", (job_id,))]

    def recent_jobs(self, limit: int = 10) -> list[JobInfo]:
        """The latest batch jobs (sweep runs left out), newest first."""
        with self._connect() as db:
            ids = [r["id"] for r in db.execute(
                "SELECT id FROM jobs WHERE sweep_id IS NULL ORDER BY created_at DESC LIMIT ?", (limit,))]
        return [j for j in (self.job(i) for i in ids) if j is not None]

    def _mark_interrupted(self, job_id: str) -> None:
        with self._writing() as db:
            db.execute("BEGIN")
            db.execute(
                "UPDATE jobs SET status = ?, finished_at = COALESCE(finished_at, ?),"
                " problem = ? WHERE id = ? AND status = ?",
                (JobStatus.INTERRUPTED.value, time.time(),
                 "The app stopped while this job ran. Finished rows are kept; retry the rest.",
                 job_id, JobStatus.RUNNING.value),
            )
            db.execute(
                "UPDATE rows SET status = ?, error = ?, error_kind = 'interrupted'"
                " WHERE job_id = ? AND status IN (?, ?)",
                (RowStatus.CANCELLED.value, "Not run: the app stopped before this row finished.",
                 job_id, RowStatus.QUEUED.value, RowStatus.RUNNING.value),
            )
            db.execute("COMMIT")

    # -- sweeps ----------------------------------------------------------------------------

    def create_sweep(self, *, source: str, endpoint: str, levels: Sequence[int], n_rows: int,
                     note: str = "") -> str:
        sweep_id = "s" + uuid.uuid4().hex[:11]
        with self._writing() as db:
            db.execute(
                "INSERT INTO sweeps (id, created_at, source, endpoint, levels, n_rows, status,"
                " owner_pid, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sweep_id, time.time(), source, endpoint, json.dumps(list(levels)), n_rows,
                 JobStatus.QUEUED.value, os.getpid(), note),
            )
        return sweep_id

    def _set_sweep(self, sweep_id: str, status: JobStatus) -> None:
        with self._writing() as db:
            db.execute("UPDATE sweeps SET status = ? WHERE id = ?", (status.value, sweep_id))

    def sweep(self, sweep_id: str) -> SweepInfo | None:
        """A sweep with one point per concurrency level run so far."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            if row is None:
                return None
            job_ids = [r["id"] for r in db.execute(
                "SELECT id FROM jobs WHERE sweep_id = ? ORDER BY created_at", (sweep_id,))]
        status = JobStatus(row["status"])
        if status is JobStatus.RUNNING and not _owner_runs(row["owner_pid"], sweep_id):
            self._set_sweep(sweep_id, JobStatus.INTERRUPTED)
            status = JobStatus.INTERRUPTED
        points = []
        for job_id in job_ids:
            job = self.job(job_id)
            if job is None:
                continue
            latencies = [r.latency_s for r in self.rows(job_id)
                         if r.status is RowStatus.DONE and r.latency_s is not None]
            points.append(SweepPoint(job, statistics.median(latencies) if latencies else None))
        return SweepInfo(
            id=sweep_id, created_at=row["created_at"], source=row["source"],
            endpoint=row["endpoint"], levels=json.loads(row["levels"]), n_rows=row["n_rows"],
            status=status, points=points, note=row["note"],
        )

    def latest_sweep_id(self) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT id FROM sweeps ORDER BY created_at DESC LIMIT 1").fetchone()
        return None if row is None else str(row["id"])


def _job_from_row(row: sqlite3.Row, counts: dict[RowStatus, int]) -> JobInfo:
    return JobInfo(
        id=row["id"], created_at=row["created_at"], source=row["source"], endpoint=row["endpoint"],
        model=row["model"], max_concurrency=row["max_concurrency"], retries=row["retries"],
        status=JobStatus(row["status"]), n_rows=row["n_rows"], counts=counts,
        started_at=row["started_at"], finished_at=row["finished_at"], wall_s=row["wall_s"],
        priced=bool(row["priced"]), price_note=row["price_note"], sweep_id=row["sweep_id"],
        cancel_requested=bool(row["cancel_requested"]), problem=row["problem"],
    )


def _row_result(r: sqlite3.Row) -> RowResult:
    return RowResult(
        job_id=r["job_id"], index=r["idx"], line=r["line"], input=r["input"],
        status=RowStatus(r["status"]), output=r["output"], latency_s=r["latency_s"],
        input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
        total_tokens=r["total_tokens"], cost_usd=r["cost_usd"], finish_reason=r["finish_reason"],
        model=r["model"], error=r["error"], error_kind=r["error_kind"], attempts=r["attempts"],
        error_fix=r["error_fix"],
    )


# -- the runner ------------------------------------------------------------------------------

# Jobs and sweeps this process is running now, by id. The page asks here (through the store)
# whether a "running" job still has a worker, so a job left running by a stopped app is
# recognised as interrupted rather than shown as running forever.
_ACTIVE: dict[str, threading.Event] = {}
_ACTIVE_LOCK = threading.Lock()


def _owner_runs(owner_pid: int | None, run_id: str) -> bool:
    if owner_pid == os.getpid():
        with _ACTIVE_LOCK:
            return run_id in _ACTIVE
    if owner_pid is None:
        return False
    try:
        os.kill(owner_pid, 0)  # another app process on the same data dir: is it alive?
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BatchCancelled(Exception):
    """Raised in place of a row's call once its job is cancelled: the row never started."""


class _RowTracker(BaseCallbackHandler):
    """Marks one row running when its call starts; stops it if cancelled.

    Timing is the call trace's (`core.tracing.CallTracer`), not this handler's.

    `raise_error` makes LangChain re-raise the `BatchCancelled` from `on_chat_model_start`, so
    a cancelled row fails before any request is sent and comes back from `batch_as_completed`
    as an exception (we pass `return_exceptions=True`).
    """

    raise_error = True
    run_inline = True

    def __init__(self, store: JobStore, job_id: str, index: int, cancel: threading.Event) -> None:
        self.store = store
        self.job_id = job_id
        self.index = index
        self.cancel = cancel

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        if self.cancel.is_set():
            raise BatchCancelled("cancelled before it started")
        self.store.mark_row_running(self.job_id, self.index)


def _save_marks(store: JobStore, job_id: str, index: int, trace: CallTrace | None) -> None:
    """Keep a streamed row's text-chunk times, on the same origin as its latency (`lc_start`).

    Only the sweep streams its rows (`streaming=True`); a row invoked whole has no chunks.
    """
    if trace is not None and trace.lc_start is not None and trace.text_chunks:
        store.save_marks(job_id, index, [c.at - trace.lc_start for c in trace.text_chunks])


def _latency_s(trace: CallTrace | None) -> float | None:
    """A row's latency: LangChain's model run, start to end (None if it never started)."""
    if trace is None or trace.lc_start is None:
        return None
    return (trace.lc_end if trace.lc_end is not None else time.perf_counter()) - trace.lc_start


class _QuietCancelWarnings(logging.Filter):
    """LangChain logs a warning for every callback that raises; a cancel is not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, tuple) and record.args[:1] == ("_RowTracker",))


logging.getLogger("langchain_core.callbacks.manager").addFilter(_QuietCancelWarnings())


@dataclass
class RunOptions:
    """How to run a job's rows.

    Attributes:
        max_concurrency: calls in flight at once (`config["max_concurrency"]`).
        retries: extra passes over rows that failed (not over cancelled ones).
        config: the base `RunnableConfig` (the ledger's callbacks, tags); its callbacks must be a list.
        cost_of: the cost of one call from its usage; None when unknown.
        secrets: values to redact from error messages (the API key).
    """

    max_concurrency: int = 4
    retries: int = 0
    config: RunnableConfig | None = None
    cost_of: CostFunction = field(default=lambda usage: None)
    secrets: tuple[str, ...] = ()


def run_job(
    store: JobStore,
    job_id: str,
    llm: BaseChatModel,
    options: RunOptions,
    *,
    cancel: threading.Event | None = None,
    rows: Sequence[int] | None = None,
) -> JobInfo:
    """Run a job's queued rows (or `rows`) here and now, writing each result as it completes.

    `start_job` calls this on a background thread; sweeps and benchmarks call it directly.
    Never raises for a failed call: failures are rows. A failure of the runner itself marks the
    job failed, with the reason.
    """
    cancel = cancel or threading.Event()
    with _ACTIVE_LOCK:
        _ACTIVE.setdefault(job_id, cancel)
    try:
        return _run(store, job_id, llm, options, cancel, rows)
    finally:
        with _ACTIVE_LOCK:
            if _ACTIVE.get(job_id) is cancel:
                del _ACTIVE[job_id]


def _run(
    store: JobStore,
    job_id: str,
    llm: BaseChatModel,
    options: RunOptions,
    cancel: threading.Event,
    rows: Sequence[int] | None,
) -> JobInfo:
    prompts = store.prompts(job_id)
    pending = list(rows) if rows is not None else [
        r.index for r in store.rows(job_id) if r.status is RowStatus.QUEUED
    ]
    started_wall = time.time()
    started = time.perf_counter()
    store._set_job(job_id, status=JobStatus.RUNNING.value, started_at=started_wall,
                   finished_at=None, wall_s=None, owner_pid=os.getpid(), cancel_requested=0,
                   problem=None)
    try:
        for round_no in range(options.retries + 1):
            if not pending or cancel.is_set():
                break
            failed = _run_pass(store, job_id, llm, options, cancel, prompts, pending)
            pending = failed
            if round_no < options.retries and failed and not cancel.is_set():
                store.requeue_rows(job_id, [RowStatus.FAILED])
        final = JobStatus.CANCELLED if cancel.is_set() else JobStatus.DONE
        problem = None
    except Exception as exc:  # the runner itself broke (the store, a bug): say so, keep rows
        final = JobStatus.FAILED
        problem = explain_error(exc, *options.secrets).as_text()
        with contextlib.suppress(Exception):
            for row in store.rows(job_id):
                if row.status in (RowStatus.QUEUED, RowStatus.RUNNING):
                    store.save_row(job_id, row.index, status=RowStatus.FAILED,
                                   error=f"Not finished: {problem}", error_kind="runner")
    if cancel.is_set():
        # Rows a cancel caught between passes never started: say so rather than leave them queued.
        for row in store.rows(job_id):
            if row.status is RowStatus.QUEUED:
                store.save_row(job_id, row.index, status=RowStatus.CANCELLED,
                               error="Cancelled before it started.", error_kind="cancelled")
    store._set_job(job_id, status=final.value, finished_at=time.time(),
                   wall_s=time.perf_counter() - started, problem=problem)
    info = store.job(job_id)
    assert info is not None
    return info


def _run_pass(
    store: JobStore,
    job_id: str,
    llm: BaseChatModel,
    options: RunOptions,
    cancel: threading.Event,
    prompts: list[str],
    indices: list[int],
) -> list[int]:
    """One `batch_as_completed` over `indices`; returns the rows that failed."""
    config, tracer = ensure_tracer(options.config, secrets=options.secrets)
    trackers = {i: _RowTracker(store, job_id, i, cancel) for i in indices}
    run_ids = {i: uuid.uuid4() for i in indices}
    configs: list[RunnableConfig] = [
        merge_configs(
            # The tracker first: a cancel must stop the call before the ledger records a start.
            {"callbacks": [trackers[i]]},
            config,
            {"max_concurrency": options.max_concurrency,
             "metadata": {"batch_job": job_id, "batch_row": i},
             "run_id": run_ids[i]},
        )
        for i in indices
    ]
    failed: list[int] = []
    outputs = llm.batch_as_completed(
        [prompts[i] for i in indices], configs, return_exceptions=True
    )
    for position, output in outputs:
        index = indices[position]
        trace = tracer.trace(run_ids[index])
        if isinstance(output, BatchCancelled):
            store.save_row(job_id, index, status=RowStatus.CANCELLED,
                           error="Cancelled before it started.", error_kind="cancelled")
        elif isinstance(output, Exception):
            # What the traced client saw (status, content type, body) names a malformed answer.
            problem = explain_error(output, *options.secrets, evidence=trace.attempt if trace else None)
            store.save_row(job_id, index, status=RowStatus.FAILED, latency_s=_latency_s(trace),
                           error=f"{problem.title}: {problem.detail}", error_kind=problem.kind,
                           error_fix=problem.fix)
            failed.append(index)
            _save_marks(store, job_id, index, trace)
        else:
            outcome = trace.outcome if trace is not None and trace.outcome is not None else outcome_of(output)
            usage = outcome.usage
            store.save_row(
                job_id, index, status=RowStatus.DONE, output=redact(outcome.text, *options.secrets),
                latency_s=_latency_s(trace),
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                total_tokens=usage.total_tokens if usage else None,
                cost_usd=options.cost_of(usage), finish_reason=outcome.finish_reason,
                model=outcome.model, error=None, error_kind=None, error_fix=None,
            )
            _save_marks(store, job_id, index, trace)
    return sorted(failed)


def start_job(
    store: JobStore,
    job_id: str,
    llm: BaseChatModel,
    options: RunOptions,
    *,
    rows: Sequence[int] | None = None,
) -> threading.Thread:
    """Run the job on a background thread (outside any Streamlit script run); return the thread.

    The job is registered as running before this returns, so a page that reads the store right
    after sees it running, never as interrupted.
    """
    cancel = threading.Event()
    with _ACTIVE_LOCK:
        if job_id in _ACTIVE:
            raise RuntimeError(f"job {job_id} is already running")
        _ACTIVE[job_id] = cancel
    store._set_job(job_id, status=JobStatus.RUNNING.value, owner_pid=os.getpid(), cancel_requested=0)
    thread = threading.Thread(
        target=run_job, args=(store, job_id, llm, options),
        kwargs={"cancel": cancel, "rows": rows}, name=f"batch-{job_id}", daemon=True,
    )
    thread.start()
    return thread


def cancel_job(store: JobStore, job_id: str) -> bool:
    """Ask a running job (or sweep) to stop: rows not yet started are cancelled, running ones
    finish and are kept. Returns False when nothing in this process is running it."""
    with _ACTIVE_LOCK:
        event = _ACTIVE.get(job_id)
    if event is None:
        return False
    event.set()
    if not job_id.startswith("s"):
        store._set_job(job_id, cancel_requested=1)
    return True


def is_running(job_id: str) -> bool:
    """Whether this process is running the job (or sweep) now."""
    with _ACTIVE_LOCK:
        return job_id in _ACTIVE


def retry_rows(
    store: JobStore, job_id: str, llm: BaseChatModel, options: RunOptions
) -> list[int]:
    """Re-run only the failed and cancelled rows of a finished job, on a background thread.

    Returns the rows put back in the queue (empty: nothing to retry, nothing started).
    """
    if is_running(job_id):
        return []
    indices = store.requeue_rows(job_id, [RowStatus.FAILED, RowStatus.CANCELLED])
    if indices:
        start_job(store, job_id, llm, options, rows=indices)
    return indices


# -- concurrency sweeps ----------------------------------------------------------------------


@dataclass(frozen=True)
class SweepPoint:
    """One concurrency level of a sweep: its job and the median per-call latency."""

    job: JobInfo
    median_latency_s: float | None

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
        finished = [p for p in self.points if p.job.status is JobStatus.DONE and p.median_latency_s]
        if not finished:
            return None
        return min(finished, key=lambda p: p.concurrency).median_latency_s


def ideal_wall_s(n_calls: int, concurrency: int, per_call_s: float) -> float:
    """Wall time with perfect overlap: `ceil(N / c)` rounds of one call's latency each.

    Example:
        >>> ideal_wall_s(10, 4, 0.3)  # 3 rounds: 4 + 4 + 2 calls
        0.9
    """
    return round(math.ceil(n_calls / concurrency) * per_call_s, 9)


def start_sweep(
    store: JobStore,
    prompts: Sequence[str],
    levels: Sequence[int],
    make_llm: Callable[[], BaseChatModel],
    options: RunOptions,
    *,
    source: str,
    endpoint: str,
    model: str,
    note: str = "",
) -> str:
    """Run the same prompts once per concurrency level, one after another, in the background.

    Each level is an ordinary job (kept in the store with the sweep's id), so a sweep survives
    reruns and reloads the same way. Returns the sweep id.
    """
    levels = sorted({int(c) for c in levels})
    sweep_id = store.create_sweep(source=source, endpoint=endpoint, levels=levels,
                                  n_rows=len(prompts), note=note)
    cancel = threading.Event()
    with _ACTIVE_LOCK:
        _ACTIVE[sweep_id] = cancel
    store._set_sweep(sweep_id, JobStatus.RUNNING)

    def sweep() -> None:
        status = JobStatus.DONE
        try:
            for level in levels:
                if cancel.is_set():
                    break
                job_id = store.create_job(
                    prompts, source=source, endpoint=endpoint, model=model, max_concurrency=level,
                    priced=False, sweep_id=sweep_id,
                )
                level_options = RunOptions(
                    max_concurrency=level, retries=0, config=options.config,
                    cost_of=options.cost_of, secrets=options.secrets,
                )
                run_job(store, job_id, make_llm(), level_options, cancel=cancel)
            if cancel.is_set():
                status = JobStatus.CANCELLED
        except Exception:  # recorded as the sweep's status; its rows are kept
            status = JobStatus.FAILED
        finally:
            store._set_sweep(sweep_id, status)
            with _ACTIVE_LOCK:
                _ACTIVE.pop(sweep_id, None)

    threading.Thread(target=sweep, name=f"sweep-{sweep_id}", daemon=True).start()
    return sweep_id
