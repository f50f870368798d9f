"""`JobStore`: jobs, their rows and sweeps in one SQLite file under the data directory."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.batch import active
from core.batch.records import (
    DB_NAME,
    JobInfo,
    JobStatus,
    RowResult,
    RowStatus,
    RunKind,
    SweepInfo,
    SweepPoint,
    run_of,
)
from core.call.run import Run
from core.paths import data_dir

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
    problem TEXT,
    kind TEXT NOT NULL DEFAULT 'batch',
    worker TEXT,
    owner TEXT,
    shared INTEGER NOT NULL DEFAULT 0
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
    note TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'sweep',
    problem TEXT,
    worker TEXT,
    owner TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS row_marks (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    chunk_times TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS workers (
    token TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    beat_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs(created_at);
"""
# `owner_pid` (both tables) is what files made before worker tokens told liveness by; it is no
# longer written or read (a process id can be reused), and stays only because the file has it.


class JobStore:
    """Jobs and their rows in one SQLite file; safe to use from several threads.

    Each operation opens its own short connection (SQLite connections must not cross threads),
    in WAL mode so the page can read while the worker writes.

    A run marked running names its app process (`worker`, that process's `active.PROCESS_TOKEN`),
    which beats in the `workers` table while it runs anything here, and reads cancel requests
    there: so any app process on the same file sees whether the run still has a worker, and can
    cancel it (`request_cancel`).

    `owner` is who made a job or sweep (a visitor's id, see `core.security.access`; None for files made
    before owners, and for callers that do not say); `shared` lets every visitor see a job.

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
            _migrate(db)
        # Writes go through one connection, one at a time: with up to `max_concurrency` worker
        # threads finishing together, SQLite's own lock would make them back off in sleeps of
        # several milliseconds; a Python lock queues them for well under one instead.
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._beat_lock = threading.Lock()
        self._beater: threading.Thread | None = None

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
        owner: str | None = None,
    ) -> str:
        """Store a new job with all its rows queued; return its id.

        A job given a `sweep_id` is one of that sweep's levels (`RunKind.SWEEP_LEVEL`), else a batch.
        `owner` is the visitor who made it (see `recent_jobs`).
        """
        kind = RunKind.BATCH if sweep_id is None else RunKind.SWEEP_LEVEL
        if not prompts:
            raise ValueError("a job needs at least one prompt")
        lines = list(line_numbers) if line_numbers is not None else list(range(1, len(prompts) + 1))
        job_id = uuid.uuid4().hex[:12]
        with self._writing() as db:
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO jobs (id, created_at, source, endpoint, model, max_concurrency, retries,"
                " status, n_rows, priced, price_note, sweep_id, worker, kind, owner)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, time.time(), source, endpoint, model, int(max_concurrency), int(retries),
                 JobStatus.QUEUED.value, len(prompts), int(priced), price_note, sweep_id,
                 active.PROCESS_TOKEN, kind.value, owner),
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

    def mark_job_running(self, job_id: str, *, started_at: float | None = None) -> None:
        """The job is running in this process, no cancel asked; the process starts beating.

        With `started_at` (a wall-clock time) a new run of it begins: the previous run's end,
        wall time and problem are cleared.
        """
        self.beat()
        values: dict[str, Any] = {"status": JobStatus.RUNNING.value, "worker": active.PROCESS_TOKEN,
                                  "cancel_requested": 0}
        if started_at is not None:
            values |= {"started_at": started_at, "finished_at": None, "wall_s": None, "problem": None}
        self._set_job(job_id, **values)
        self._keep_beating()

    def mark_job_finished(self, job_id: str, status: JobStatus, *, wall_s: float | None = None,
                          problem: str | None = None) -> None:
        """The job's run ended now with `status` after `wall_s` seconds (`problem`: why it failed)."""
        self._set_job(job_id, status=status.value, finished_at=time.time(), wall_s=wall_s, problem=problem)

    def request_cancel(self, run_id: str) -> None:
        """Ask the job or sweep to stop: every session's page shows it stopping, and the app
        process that runs it (this one or another) stops it at its next heartbeat."""
        with self._writing() as db:
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            db.execute("UPDATE sweeps SET cancel_requested = 1 WHERE id = ?", (run_id,))

    def set_shared(self, job_id: str, shared: bool) -> None:
        """Let every visitor see the job (`shared`), or only its owner again."""
        self._set_job(job_id, shared=int(shared))

    # -- which process runs what -------------------------------------------------------------

    def beat(self) -> None:
        """Write this process's heartbeat now (`active.PROCESS_TOKEN`)."""
        now = time.time()
        with self._writing() as db:
            db.execute(
                "INSERT INTO workers (token, pid, started_at, beat_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(token) DO UPDATE SET beat_at = excluded.beat_at",
                (active.PROCESS_TOKEN, os.getpid(), now, now),
            )

    def worker_alive(self, worker: str | None, run_id: str) -> bool:
        """Whether the app process `worker` still runs `run_id`: this one (asked in `active`),
        or another whose heartbeat is fresher than `active.STALE_AFTER_S`."""
        if worker == active.PROCESS_TOKEN:
            return active.is_running(run_id)
        if worker is None:  # a file made before worker tokens: its process is long gone
            return False
        with self._connect() as db:
            row = db.execute("SELECT beat_at FROM workers WHERE token = ?", (worker,)).fetchone()
        return row is not None and time.time() - row["beat_at"] < active.STALE_AFTER_S

    def is_running(self, run_id: str) -> bool:
        """Whether a job or sweep is running now, in this app process or another."""
        job = self.job(run_id)
        if job is not None:
            return job.status is JobStatus.RUNNING
        sweep = self.sweep(run_id)
        return sweep is not None and sweep.status is JobStatus.RUNNING

    def _keep_beating(self) -> None:
        """Start the heartbeat thread unless it runs; it stops once nothing here runs."""
        with self._beat_lock:
            if self._beater is None:
                self._beater = threading.Thread(target=self._beat_loop, name="job-store-heartbeat",
                                                daemon=True)
                self._beater.start()

    def _beat_loop(self) -> None:
        while True:
            with self._beat_lock:
                try:
                    mine = self._runs_of_this_process()
                except sqlite3.Error:  # the file is gone (`make clean-data`, a test's temp dir)
                    mine = []
                running = [(run_id, asked) for run_id, asked in mine if active.is_running(run_id)]
                if not running:
                    self._beater = None
                    return
            # A missed beat is no fault: the next one may succeed, and a reader allows several.
            with contextlib.suppress(sqlite3.Error):
                self.beat()
            for run_id, asked in running:
                event = active.cancel_event(run_id)
                if asked and event is not None:
                    event.set()  # asked through the store, maybe by another app process
            time.sleep(active.HEARTBEAT_S)

    def _runs_of_this_process(self) -> list[tuple[str, bool]]:
        """(id, cancel asked) of every job and sweep marked running by this process."""
        with self._connect() as db:
            return [
                (r["id"], bool(r["cancel_requested"]))
                for table in ("jobs", "sweeps")
                for r in db.execute(
                    f"SELECT id, cancel_requested FROM {table} WHERE worker = ? AND status = ?",
                    (active.PROCESS_TOKEN, JobStatus.RUNNING.value),
                )
            ]

    def kind_of(self, run_id: str) -> RunKind | None:
        """Whether `run_id` is a batch job, a sweep's level or a sweep; None if it is none of them.

        Example:
            >>> import tempfile
            >>> store = JobStore(Path(tempfile.mkdtemp()) / "batch.sqlite3")
            >>> sweep_id = store.create_sweep(source="doctest", endpoint="Local", levels=[1], n_rows=1)
            >>> store.kind_of(sweep_id).value, store.kind_of("no-such-id")
            ('sweep', None)
        """
        with self._connect() as db:
            row = db.execute("SELECT kind FROM jobs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                row = db.execute("SELECT kind FROM sweeps WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else RunKind(row["kind"])

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
        if info.status is JobStatus.RUNNING and not self.worker_alive(row["worker"], job_id):
            self._mark_interrupted(job_id)
            return self.job(job_id)
        return info

    def rows(self, job_id: str) -> list[RowResult]:
        """Every row of the job, in input order."""
        with self._connect() as db:
            found = db.execute("SELECT * FROM rows WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return [_row_result(r) for r in found]

    def run(self, job: JobInfo, *, label: str = "") -> Run:
        """The job's rows that ran, each rebuilt as a trace with its chunk marks
        (`RowResult.as_trace`), as one `Run`: what a page or the report aggregates.

        Rebuilt rows keep no start time of their own, so the run's wall time is the job's.
        """
        return run_of(job, self.rows(job.id), self.row_marks(job.id), label=label)

    def prompts(self, job_id: str) -> list[str]:
        with self._connect() as db:
            return [r["input"] for r in db.execute(
                "SELECT input FROM rows WHERE job_id = ? ORDER BY idx", (job_id,))]

    def recent_jobs(self, limit: int = 10, *, visible_to: str | None = None) -> list[JobInfo]:
        """The latest batch jobs (sweep runs left out), newest first.

        With `visible_to` (a visitor's id) only the jobs that visitor made or that were shared;
        without it, every job.
        """
        mine = "" if visible_to is None else " AND (owner = ? OR shared = 1)"
        with self._connect() as db:
            ids = [r["id"] for r in db.execute(
                f"SELECT id FROM jobs WHERE kind = ?{mine} ORDER BY created_at DESC LIMIT ?",
                (RunKind.BATCH.value, *([] if visible_to is None else [visible_to]), limit))]
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
                     note: str = "", owner: str | None = None) -> str:
        """Store a new sweep (its levels are jobs created as it reaches them); return its id."""
        sweep_id = "s" + uuid.uuid4().hex[:11]
        with self._writing() as db:
            db.execute(
                "INSERT INTO sweeps (id, created_at, source, endpoint, levels, n_rows, status,"
                " worker, note, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sweep_id, time.time(), source, endpoint, json.dumps(list(levels)), n_rows,
                 JobStatus.QUEUED.value, active.PROCESS_TOKEN, note, owner),
            )
        return sweep_id

    def set_sweep_status(self, sweep_id: str, status: JobStatus, *, problem: str | None = None) -> None:
        """Where the sweep as a whole is (its levels are jobs with their own status); running
        means running in this process, which then beats.

        `problem` says why a sweep failed outside its levels' calls (kept with it, shown on reload).
        """
        if status is JobStatus.RUNNING:
            self.beat()
        with self._writing() as db:
            db.execute("UPDATE sweeps SET status = ?, problem = COALESCE(?, problem), worker = ? WHERE id = ?",
                       (status.value, problem, active.PROCESS_TOKEN, sweep_id))
        if status is JobStatus.RUNNING:
            self._keep_beating()

    def _mark_sweep_interrupted(self, sweep_id: str) -> JobStatus:
        """Interrupted, unless the sweep ended between the read and now (as `_mark_interrupted`
        does for jobs): a sweep thread that sets DONE and then lets go must not be overwritten."""
        with self._writing() as db:
            db.execute("UPDATE sweeps SET status = ? WHERE id = ? AND status = ?",
                       (JobStatus.INTERRUPTED.value, sweep_id, JobStatus.RUNNING.value))
            row = db.execute("SELECT status FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return JobStatus(row["status"])

    def sweep(self, sweep_id: str) -> SweepInfo | None:
        """A sweep with one point per concurrency level run so far."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            if row is None:
                return None
            job_ids = [r["id"] for r in db.execute(
                "SELECT id FROM jobs WHERE sweep_id = ? AND kind = ? ORDER BY created_at",
                (sweep_id, RunKind.SWEEP_LEVEL.value))]
        status = JobStatus(row["status"])
        if status is JobStatus.RUNNING and not self.worker_alive(row["worker"], sweep_id):
            status = self._mark_sweep_interrupted(sweep_id)
        points = []
        for job_id in job_ids:
            job = self.job(job_id)
            if job is None:
                continue
            points.append(SweepPoint(job, self.run(job, label=f"c = {job.max_concurrency}")))
        return SweepInfo(
            id=sweep_id, created_at=row["created_at"], source=row["source"],
            endpoint=row["endpoint"], levels=json.loads(row["levels"]), n_rows=row["n_rows"],
            status=status, points=points, note=row["note"], problem=row["problem"], owner=row["owner"],
            cancel_requested=bool(row["cancel_requested"]),
        )

    def latest_sweep_id(self) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT id FROM sweeps ORDER BY created_at DESC LIMIT 1").fetchone()
        return None if row is None else str(row["id"])


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file made by an older version up to the schema, in place (SQLite adds columns).

    Rows kept their fix (`error_fix`) later; jobs and sweeps got a stored `kind` later still:
    before it, a sweep was told from a job by its id ("s" + 11 hex digits) and a sweep's level
    by its `sweep_id`, so an old job linked to a sweep becomes a level and every other a batch.
    Sweeps got their `problem` (why one failed); older failed sweeps have none. Then runs got
    their `worker` (the process token that replaced `owner_pid`: an old file's running job has
    none, so it reads as interrupted), their visitor `owner` (none: only a lab served on this
    machine alone lists it) and `shared`, and sweeps a `cancel_requested`.
    """
    def columns(table: str) -> set[str]:
        return {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}

    # One write transaction, the checks inside it: two app processes opening the same old file
    # at once must not both add a column.
    db.execute("BEGIN IMMEDIATE")
    try:
        if "error_fix" not in columns("rows"):
            db.execute("ALTER TABLE rows ADD COLUMN error_fix TEXT")
        if "kind" not in columns("jobs"):
            db.execute(f"ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT '{RunKind.BATCH.value}'")
            db.execute("UPDATE jobs SET kind = ? WHERE sweep_id IS NOT NULL", (RunKind.SWEEP_LEVEL.value,))
        if "kind" not in columns("sweeps"):
            db.execute(f"ALTER TABLE sweeps ADD COLUMN kind TEXT NOT NULL DEFAULT '{RunKind.SWEEP.value}'")
        if "problem" not in columns("sweeps"):  # a failed sweep's reason, kept since issue 30
            db.execute("ALTER TABLE sweeps ADD COLUMN problem TEXT")
        for table, column, declared in (
            ("jobs", "worker", "TEXT"), ("jobs", "owner", "TEXT"),
            ("jobs", "shared", "INTEGER NOT NULL DEFAULT 0"),
            ("sweeps", "worker", "TEXT"), ("sweeps", "owner", "TEXT"),
            ("sweeps", "cancel_requested", "INTEGER NOT NULL DEFAULT 0"),
        ):
            if column not in columns(table):
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declared}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _job_from_row(row: sqlite3.Row, counts: dict[RowStatus, int]) -> JobInfo:
    return JobInfo(
        id=row["id"], created_at=row["created_at"], source=row["source"], endpoint=row["endpoint"],
        model=row["model"], max_concurrency=row["max_concurrency"], retries=row["retries"],
        status=JobStatus(row["status"]), n_rows=row["n_rows"], counts=counts,
        started_at=row["started_at"], finished_at=row["finished_at"], wall_s=row["wall_s"],
        priced=bool(row["priced"]), price_note=row["price_note"], sweep_id=row["sweep_id"],
        cancel_requested=bool(row["cancel_requested"]), problem=row["problem"], kind=RunKind(row["kind"]),
        owner=row["owner"], shared=bool(row["shared"]),
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
