"""Concurrency sweeps: the same prompts run once per `max_concurrency` level, one job per level."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel

from core.batch import active
from core.batch.records import JobStatus
from core.batch.runner import RunOptions, run_job
from core.batch.store import JobStore
from core.call.errors import explain_error
from core.export.otel import run_group

_log = logging.getLogger(__name__)


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
    owner: str | None = None,
) -> str:
    """Run the same prompts once per concurrency level, one after another, in the background.

    Each level is an ordinary job (kept in the store with the sweep's id), so a sweep survives
    reruns and reloads the same way. `owner`: the visitor who started it. Returns the sweep id.
    """
    levels = sorted({int(c) for c in levels})
    sweep_id = store.create_sweep(source=source, endpoint=endpoint, levels=levels,
                                  n_rows=len(prompts), note=note, owner=owner)
    cancel = threading.Event()
    active.claim(sweep_id, cancel)
    store.set_sweep_status(sweep_id, JobStatus.RUNNING)

    def sweep() -> None:
        with run_group("sweep", sweep_id, levels=",".join(map(str, levels))):  # its levels' parent
            run_levels()

    def run_levels() -> None:
        status = JobStatus.DONE
        problem: str | None = None
        try:
            for level in levels:
                if cancel.is_set():
                    break
                job_id = store.create_job(
                    prompts, source=source, endpoint=endpoint, model=model, max_concurrency=level,
                    priced=False, sweep_id=sweep_id, owner=owner,
                )
                level_options = RunOptions(
                    max_concurrency=level, retries=0, config=options.config,
                    cost_of=options.cost_of, secrets=options.secrets,
                )
                run_job(store, job_id, make_llm(), level_options, cancel=cancel)
            if cancel.is_set():
                status = JobStatus.CANCELLED
        except Exception as exc:  # the sweep itself broke (the model, the store): keep why, and its rows
            status = JobStatus.FAILED
            problem = explain_error(exc, *options.secrets).as_text()
            _log.exception("sweep %s failed", sweep_id)  # the terminal keeps the traceback
        finally:
            store.set_sweep_status(sweep_id, status, problem=problem)
            active.release(sweep_id)

    threading.Thread(target=sweep, name=f"sweep-{sweep_id}", daemon=True).start()
    return sweep_id
