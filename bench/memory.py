"""Memory: what one long session keeps — RSS after 2,000 ledgered calls and a 1,000-row sweep.

The session ledger keeps every call a session makes (a sweep's rows join it); only the newest
`core.money.ledger.FULL_TRACES` keep their full trace, older ones their figures (`CallTrace.compacted`).
The calls are real: `ChatOpenAI` streaming through the lab's traced client to
bench.latency_endpoint (a stub behind the lab's network proxy, in a process of its own), 32
chunks an answer, with the ledger's callback in the config as a page passes it.

* 2,000 calls through `llm.batch` at c = 32 into one ledger: the process's RSS growth over the
  same process after a warm-up; bound ≤ 40 MB (every trace kept whole grew it ~3× more in the
  unit test's count: tests/unit/test_resources.py);
* a 1,000-row concurrency sweep (`core.batch.start_sweep`, one level at c = 16, streamed
  rows, the same ledger): the RSS growth over the whole run; bound ≤ 60 MB.

RSS is the kernel's VmRSS of this process (what the app's process would hold), read after a
garbage collection. Run: `.venv/bin/python -m bench.memory`.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from pathlib import Path

from bench.common import print_table
from bench.latency_endpoint import latency_bound_endpoint

CALLS = int(os.environ.get("BENCH_MEMORY_CALLS", "2000"))
SWEEP_ROWS = int(os.environ.get("BENCH_MEMORY_SWEEP_ROWS", "1000"))
CALLS_BOUND_MB = 40.0
SWEEP_BOUND_MB = 60.0
LATENCY_MS = 20


def rss_mb() -> float:
    """This process's resident set (VmRSS), in MB, after a collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def run(calls: int = CALLS, sweep_rows: int = SWEEP_ROWS) -> list[dict[str, object]]:
    from pydantic import SecretStr

    from core.batch import JobStore, RunOptions, start_sweep
    from core.call.models import Endpoint, build_chat_model
    from core.money.ledger import FULL_TRACES, SessionLedger
    from core.settings import ModelSettings, Provider

    rows: list[dict[str, object]] = []
    with latency_bound_endpoint(LATENCY_MS) as (base_url, key):
        endpoint = Endpoint(Provider.COMPATIBLE, base_url, "stub", SecretStr(key), "LAB_COMPAT_API_KEY")
        settings = ModelSettings(provider=Provider.COMPATIBLE, model="stub", base_url=base_url,
                                 temperature=0.0, max_tokens=64, max_retries=0, timeout_s=60)

        def make_llm():  # a ChatOpenAI (its import stays inside run)
            return build_chat_model(settings, endpoint, streaming=True)

        llm = make_llm()
        warm = SessionLedger()
        llm.batch([f"warm {i}" for i in range(300)],
                  config={"callbacks": [warm.callback(pattern="bench", provider="stub")], "max_concurrency": 32})
        del warm
        ledger = SessionLedger()
        config = {"callbacks": [ledger.callback(pattern="bench", provider="stub")], "max_concurrency": 32}
        before = rss_mb()
        start = time.perf_counter()
        for first in range(0, calls, 500):
            llm.batch([f"Question {i}: what is {i} + {i}?" for i in range(first, min(first + 500, calls))], config=config)
        wall = time.perf_counter() - start
        after_calls = rss_mb()
        chunks = sum(len(t.chunks) for t in ledger.traces()[-FULL_TRACES:]) / min(FULL_TRACES, len(ledger))
        rows.append({
            "measure": f"RSS growth after {len(ledger):,} ledgered calls",
            "value": f"{after_calls - before:.1f} MB", "target": f"≤ {CALLS_BOUND_MB:.0f} MB",
            "detail": f"{before:.0f} → {after_calls:.0f} MB RSS; {chunks:.0f} chunks a call, the newest "
                      f"{FULL_TRACES} kept whole; {calls / wall:.0f} calls/s",
        })

        store = JobStore(Path(tempfile.mkdtemp(prefix="bench-memory-")) / "batch.sqlite3")
        prompts = [f"Row {i}: name a colour." for i in range(sweep_rows)]
        sweep_config = {"callbacks": [ledger.callback(pattern="batch", provider="stub")]}
        start = time.perf_counter()
        sweep_id = start_sweep(store, prompts, [16], make_llm, RunOptions(max_concurrency=16, config=sweep_config),
                               source="bench", endpoint="stub", model="stub")
        deadline = time.monotonic() + 600
        while not store.sweep(sweep_id).status.finished:  # type: ignore[union-attr]  # it exists
            if time.monotonic() > deadline:
                raise RuntimeError("the sweep did not finish in 10 minutes")
            time.sleep(0.5)
        sweep = store.sweep(sweep_id)
        after_sweep = rss_mb()
        done = sum(p.job.completed for p in sweep.points) if sweep else 0
        rows.append({
            "measure": f"RSS growth after a {sweep_rows:,}-row sweep in the same session",
            "value": f"{after_sweep - before:.1f} MB", "target": f"≤ {SWEEP_BOUND_MB:.0f} MB",
            "detail": f"{after_calls:.0f} → {after_sweep:.0f} MB RSS; {done:,} rows done in "
                      f"{time.perf_counter() - start:.0f} s; the ledger holds {len(ledger):,} calls",
        })
    return rows


def main() -> None:
    print_table("Memory: one long session", run())


if __name__ == "__main__":
    main()
