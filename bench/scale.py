"""Scale: a 1,000-row batch job through a latency-bound endpoint, and the Batch page polling it.

The endpoint is bench.latency_endpoint (the lab's network proxy holding each request a fixed
time in front of a stub that answers at once, in a child process), so every call costs the same
wait and the ideal wall time is `ceil(N / c) × per-call latency` (the median of single calls).

* the job: the app's batch runner (`core.batch.run_job`: a SQLite write when each row starts
  and ends, the ledger callback) over 1,000 rows at c = 16 and c = 64. A bare `llm.batch` of the
  same rows follows each job: the floor that LangChain's and openai's CPU per call sets on this
  machine. Target (issue 34): the job ≤ 1.02 × that floor; ÷ ideal is shown as information;
* SQLite: the same two writes per row (`mark_row_running`, `save_row`) alone, one row after
  another, as rows stored per second; target ≥ 10 × the rows finished per second at c = 64, so
  the store is never what the job waits for;
* the Batch page's poll: the page (AppTest, the real script) rerun with a finished job of 1,000
  rows attached, against the same with 10 rows, alternating; target ≤ 2 × (median of the paired
  ratios). A full rerun draws what each poll of the job panel draws (heading, summary, export
  buttons, the results table) plus the page around it.

Run: `.venv/bin/python -m bench.scale`.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

from bench.common import median, print_table
from bench.latency_endpoint import latency_bound_endpoint

N_ROWS = int(os.environ.get("BENCH_SCALE_ROWS", "1000"))
SMALL_ROWS = 10
LEVELS = (16, 64)
TARGET_BARE = 1.02  # the job ÷ a bare llm.batch of the same rows, same run
LATENCY_MS = 300
POLL_RUNS = int(os.environ.get("BENCH_SCALE_POLL_RUNS", "7"))


def _prompts(n_rows: int) -> list[str]:
    """The rows of a job, and of the bare llm.batch measured beside it."""
    return [f"Question {i}: what is {i} + {i}?" for i in range(n_rows)]


def _job_rows(store, n_rows: int, llm, config, c: int) -> tuple[str, float]:
    from core.batch import RunOptions, run_job

    job_id = store.create_job(_prompts(n_rows), source="bench", endpoint="stub", model="stub", max_concurrency=c)
    info = run_job(store, job_id, llm, RunOptions(max_concurrency=c, config=config))
    assert info.completed == n_rows, info.counts
    return job_id, float(info.wall_s or 0)


def _store_rate(store, n_rows: int) -> float:
    """Rows per second the store takes when only writing: the runner's two writes per row."""
    from core.batch import RowStatus

    job_id = store.create_job([f"q{i}" for i in range(n_rows)], source="bench", endpoint="stub",
                              model="stub", max_concurrency=1)
    start = time.perf_counter()
    for i in range(n_rows):
        store.mark_row_running(job_id, i)
        store.save_row(job_id, i, status=RowStatus.DONE, output="ok", input_tokens=12,
                       output_tokens=1, latency_s=0.3)
    return n_rows / (time.perf_counter() - start)


def _page_with_job() -> None:
    from components.router import run_app

    run_app(start_page="pages/batch.py")


def _poll_rerun_s(job_id: str) -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_page_with_job, default_timeout=300)
    at.query_params["job"] = job_id
    at.run()  # the first run attaches the job; the next one is the steady redraw
    assert not at.exception, [e.message for e in at.exception]
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    assert not at.exception, [e.message for e in at.exception]
    return elapsed


def run(n_rows: int = N_ROWS) -> list[dict[str, object]]:
    from pydantic import SecretStr

    from core.batch import JobStore
    from core.call.models import Endpoint, build_chat_model
    from core.money.ledger import SessionLedger
    from core.settings import ModelSettings, Provider

    data_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    os.environ["LAB_DATA_DIR"] = str(data_dir)  # the page's job store (AppTest runs in-process)
    os.environ.setdefault("LAB_DOTENV_PATH", os.devnull)
    os.environ.setdefault("LAB_DISABLE_EMBEDDED", "1")  # the page needs no model to draw a job
    store = JobStore.in_data_dir(dict(os.environ))
    rows: list[dict[str, object]] = []
    load = os.getloadavg()[0]
    with latency_bound_endpoint(LATENCY_MS) as (base_url, key):
        endpoint = Endpoint(Provider.COMPATIBLE, base_url, "stub", SecretStr(key), "LAB_COMPAT_API_KEY")
        settings = ModelSettings(provider=Provider.COMPATIBLE, model="stub", base_url=base_url,
                                 temperature=0.0, max_tokens=8, max_retries=0, timeout_s=60)
        llm = build_chat_model(settings, endpoint)
        config = {"callbacks": [SessionLedger().callback(pattern="bench", provider="stub")]}
        llm.batch([f"warm {i}" for i in range(64)], config={"max_concurrency": 64})
        singles = []
        for i in range(7):
            start = time.perf_counter()
            llm.invoke(f"single {i}")
            singles.append(time.perf_counter() - start)
        per_call = median(singles)
        finished_per_s = {}
        big_job = ""
        for c in LEVELS:
            big_job, wall = _job_rows(store, n_rows, llm, config, c)
            ideal = math.ceil(n_rows / c) * per_call
            finished_per_s[c] = n_rows / wall
            # The same prompts through a bare llm.batch right after: the floor that LangChain's
            # and openai's own CPU per call sets on this machine, next to the runner's figure.
            start = time.perf_counter()
            llm.batch(_prompts(n_rows), config={"max_concurrency": c})
            bare = time.perf_counter() - start
            rows.append({"measure": f"job of {n_rows:,} rows at c = {c}: wall ÷ ideal",
                         "value": f"{wall / ideal:.3f}×", "target": "(information)",
                         "detail": f"{wall:.2f} s against {ideal:.2f} s ({per_call * 1000:.0f} ms a call); "
                                   f"bare llm.batch, same rows, right after: {bare / ideal:.3f}×"})
            rows.append({"measure": f"job of {n_rows:,} rows at c = {c}: wall ÷ bare llm.batch",
                         "value": f"{wall / bare:.3f}×", "target": f"≤ {TARGET_BARE:.2f}×",
                         "detail": f"{wall:.2f} s against {bare:.2f} s, the same rows right after"})
        small_job, _ = _job_rows(store, SMALL_ROWS, llm, config, 16)
    stored = _store_rate(store, n_rows)
    rows.append({"measure": "SQLite rows stored/s ÷ rows finished/s at c = 64",
                 "value": f"{stored / finished_per_s[64]:.1f}×", "target": "≥ 10×",
                 "detail": f"{stored:,.0f} rows/s stored alone, {finished_per_s[64]:,.0f} rows/s finished"})

    _poll_rerun_s(small_job)  # imports and caches, not counted
    small, big = [], []
    for _ in range(POLL_RUNS):
        small.append(_poll_rerun_s(small_job))
        big.append(_poll_rerun_s(big_job))
    ratio = median(b / s for b, s in zip(big, small, strict=True))
    load = max(load, os.getloadavg()[0])
    rows.append({"measure": f"Batch page rerun with {n_rows:,} rows ÷ with {SMALL_ROWS}",
                 "value": f"{ratio:.2f}×", "target": "≤ 2×",
                 "detail": f"{median(big) * 1000:.0f} ms against {median(small) * 1000:.0f} ms "
                           f"(AppTest, {POLL_RUNS} paired runs; load average {load:.1f})"})
    return rows


def main() -> None:
    print_table("Scale: 1,000 rows through a latency-bound endpoint", run())


if __name__ == "__main__":
    main()
