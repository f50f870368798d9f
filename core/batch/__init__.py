"""Batch: durable jobs (a SQLite job store and a runner on a background thread), their input, estimate and export.

A Streamlit script run stops at every widget click, so a batch of hundreds of calls cannot live
inside one. Here a job is a set of rows in SQLite (under the data directory), and a worker
thread — outside any script run — drives `llm.batch_as_completed(...)` and writes each row as it
completes. The page only reads the store, so a rerun, a page switch or a reloaded browser tab
finds the job where it is, and finished rows are never lost.

One concept per module (import from the package):

- `records` — row and job statuses, `RowResult` (its `as_trace`), `JobInfo`, `SweepInfo`, `run_of` (a job's rows as a `core.call.run.Run`): what the store returns.
- `store` — `JobStore`, the SQLite file (and its migrations from older files).
- `active` — which jobs and sweeps this process runs now, and the events that cancel them.
- `runner` — `run_job` / `start_job` / `cancel_job` / `retry_rows`: rows through `batch_as_completed`.
- `sweeps` — `start_sweep`: the same prompts once per concurrency level, and the ideal line.

Around the jobs, imported from their modules (the package does not load them): `inputs` (an
uploaded file or pasted text into prompts, or why not), `estimate` (calls, tokens and cost before
running), `export` (a job's rows as CSV or JSON Lines) and `sweep_load` (a sweep's load figures).
"""

from core.batch import active
from core.batch.active import is_running
from core.batch.records import (
    DB_NAME,
    CostFunction,
    JobInfo,
    JobStatus,
    RowResult,
    RowStatus,
    RunKind,
    SweepInfo,
    SweepPoint,
    row_failures,
    run_of,
)
from core.batch.runner import BatchCancelled, RunOptions, cancel_job, retry_rows, run_job, start_job
from core.batch.store import JobStore
from core.batch.sweeps import ideal_wall_s, start_sweep

__all__ = [
    "DB_NAME",
    "BatchCancelled",
    "CostFunction",
    "JobInfo",
    "JobStatus",
    "JobStore",
    "RowResult",
    "RowStatus",
    "RunKind",
    "RunOptions",
    "SweepInfo",
    "SweepPoint",
    "active",
    "cancel_job",
    "ideal_wall_s",
    "is_running",
    "retry_rows",
    "row_failures",
    "run_job",
    "run_of",
    "start_job",
    "start_sweep",
]
