"""The runner: a job's rows through `batch_as_completed` on a background thread, each saved as it completes.

Row lifecycle: queued → running → done | failed | cancelled. A per-row callback handler marks a
row running when its call really starts (`on_chat_model_start`), which is also where a cancel
takes effect: rows that have not started are stopped there, rows already running finish and are
kept.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from core.batch import active
from core.batch.records import CostFunction, JobInfo, JobStatus, RowStatus, RunKind
from core.batch.store import JobStore
from core.call.errors import explain_error, redact
from core.call.trace import CallTrace
from core.call.tracing import ensure_tracer, outcome_of
from core.export.otel import run_group


class BatchCancelled(Exception):
    """Raised in place of a row's call once its job is cancelled: the row never started."""


class _RowTracker(BaseCallbackHandler):
    """Marks one row running when its call starts; stops it if cancelled.

    Timing is the call trace's (`core.call.tracing.CallTracer`), not this handler's.

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
    active.claim(job_id, cancel)
    try:
        # The job is one run: its rows' calls are its children in an OpenTelemetry export.
        kind = store.kind_of(job_id) or RunKind.BATCH
        with run_group(kind.value.replace("_", " "), job_id, concurrency=options.max_concurrency):
            return _run(store, job_id, llm, options, cancel, rows)
    finally:
        active.release(job_id, cancel)


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
    store.mark_job_running(job_id, started_at=started_wall)
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
    store.mark_job_finished(job_id, final, wall_s=time.perf_counter() - started, problem=problem)
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
    active.claim(job_id, cancel, exclusive=True)
    store.mark_job_running(job_id)
    thread = threading.Thread(
        target=run_job, args=(store, job_id, llm, options),
        kwargs={"cancel": cancel, "rows": rows}, name=f"batch-{job_id}", daemon=True,
    )
    thread.start()
    return thread


def cancel_job(store: JobStore, job_id: str) -> bool:
    """Ask a running job (or sweep) to stop: rows not yet started are cancelled, running ones
    finish and are kept. Returns False when no app process is running it.

    The request goes through the store, so it reaches the app process that runs the job wherever
    it is (another process on the same data directory stops it at its next heartbeat,
    `active.HEARTBEAT_S`); when that is this process, its event is set at once.
    """
    event = active.cancel_event(job_id)
    if event is None and not store.is_running(job_id):
        return False
    store.request_cancel(job_id)
    if event is not None:
        event.set()
    return True


def retry_rows(
    store: JobStore, job_id: str, llm: BaseChatModel, options: RunOptions
) -> list[int]:
    """Re-run only the failed and cancelled rows of a finished job, on a background thread.

    Returns the rows put back in the queue (empty: nothing to retry, nothing started).
    """
    if active.is_running(job_id):
        return []
    indices = store.requeue_rows(job_id, [RowStatus.FAILED, RowStatus.CANCELLED])
    if indices:
        start_job(store, job_id, llm, options, rows=indices)
    return indices
