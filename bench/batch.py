"""Batch and async: wall time against the ideal `ceil(N / c) × per-call latency`, and overhead.

The endpoint is latency-bound on purpose (bench.latency_endpoint): the lab's network-conditions
proxy holds every request 300 ms in front of a stub that answers at once, in a process of its
own. (A real model on 2 CPU cores would make the CPU, not the waiting, the bottleneck — the
Batch page's sweep and bench.async_modes show that case.) So every call costs about the same
and the ideal is well defined:

* per-call latency: the median of single calls through the same path;
* ideal wall time at concurrency c: `ceil(N / c)` rounds of that latency;
* client CPU per call: the benchmark process's CPU time over the run, divided by N (the
  endpoint runs in another process, so this is LangChain's, openai's and the app's own work).
  Python runs it one thread at a time, so at concurrency c each round costs about c × that on
  top of the latency: the floor under "× ideal" that no runner on this machine can go below;
* measured, on the same N inputs:
  - the app's batch runner (`core.batch.run_job`: `batch_as_completed`, a SQLite write per
    row start and end, the ledger callback) and a bare `llm.batch`;
  - the Async page's abatch mode (`core.patterns.concurrency.run_mode`: a fresh event loop and HTTP
    client, a timer callback per call) and a bare `await llm.abatch`.

Targets (issue 34): each app path ≤ 1.02 × its bare LangChain call (`llm.batch`, `llm.abatch`) on
the same rows in the same run, at every level: the margin the lab adds over the floor it is built
on. "× ideal" is information: LangChain's and openai's CPU per call on this machine set its floor.

Run: `.venv/bin/python -m bench.batch` (or `make bench` for every benchmark).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import median, print_table
from bench.latency_endpoint import latency_bound_endpoint

N_CALLS = 64
LEVELS = (1, 4, 16)
LATENCY_MS = 300
REPEATS = 5  # per level, except c = 1 (one run: it is the slow one, and the steadiest)
TARGET_BARE = "≤ 1.02"
# Each app path and the bare LangChain call it wraps.
BARE_OF = {"app batch runner": "bare llm.batch", "app async (abatch mode)": "bare llm.abatch"}


def _with_target(ratio: float, target: str | None) -> str:
    return f"{ratio:.3f}" + (f" (target {target})" if target else "")


def run(n_calls: int = N_CALLS, levels: tuple[int, ...] = LEVELS, repeats: int = REPEATS) -> list[dict[str, object]]:
    """Rows per concurrency level and path: median wall time, ×ideal, ×bare."""
    import httpx
    from pydantic import SecretStr

    from core.batch import JobStore, RunOptions, run_job
    from core.call.models import Endpoint, build_chat_model
    from core.money.ledger import SessionLedger
    from core.patterns.concurrency import Mode, run_mode
    from core.settings import ModelSettings, Provider

    with latency_bound_endpoint(LATENCY_MS) as (base_url, key):
        endpoint = Endpoint(Provider.COMPATIBLE, base_url, "stub", SecretStr(key), "LAB_COMPAT_API_KEY")
        settings = ModelSettings(provider=Provider.COMPATIBLE, model="stub", base_url=base_url,
                                 temperature=0.0, max_tokens=8, max_retries=0, timeout_s=30)

        def build_llm(**overrides: object):
            return build_chat_model(settings, endpoint, **overrides)

        llm = build_llm()
        prompts = [f"Question {i}: what is {i} + {i}?" for i in range(n_calls)]
        store = JobStore(Path(tempfile.mkdtemp(prefix="bench-batch-")) / "batch.sqlite3")
        ledger = SessionLedger()
        config = {"callbacks": [ledger.callback(pattern="bench", provider="stub")]}

        # Warm the connections, then measure one call's latency on its own.
        llm.batch(prompts[:16], config={"max_concurrency": 16})
        singles = []
        for prompt in prompts[:7]:
            start = time.perf_counter()
            llm.invoke(prompt)
            singles.append(time.perf_counter() - start)
        per_call = median(singles)

        def app_batch(c: int) -> float:
            job_id = store.create_job(prompts, source="bench", endpoint="stub", model="stub", max_concurrency=c)
            info = run_job(store, job_id, llm, RunOptions(max_concurrency=c, config=config))
            assert info.n_rows == info.completed == n_calls, info.counts
            return float(info.wall_s or 0)

        def bare_batch(c: int) -> float:
            start = time.perf_counter()
            llm.batch(prompts, config={"max_concurrency": c})
            return time.perf_counter() - start

        def app_async(c: int) -> float:
            run = run_mode(Mode.ABATCH, prompts, build_llm, config=config, max_concurrency=c)
            assert not run.failures, run.failures[0].error
            return float(run.wall_s or 0)

        def bare_async(c: int) -> float:
            async def go() -> float:
                async with httpx.AsyncClient() as http:  # as the app: a client owned by this loop
                    model = build_llm(http_async_client=http)
                    start = time.perf_counter()
                    await model.abatch(prompts, config={"max_concurrency": c})
                    return time.perf_counter() - start

            return asyncio.run(go())

        def timed(path: Callable[[int], float], c: int) -> tuple[float, float]:
            cpu_start = time.process_time()
            wall = path(c)
            return wall, time.process_time() - cpu_start

        paths: dict[str, Callable[[int], float]] = {
            "app batch runner": app_batch,
            "bare llm.batch": bare_batch,
            "app async (abatch mode)": app_async,
            "bare llm.abatch": bare_async,
        }
        rows: list[dict[str, object]] = []
        for c in levels:
            times: dict[str, list[float]] = {name: [] for name in paths}
            cpu: dict[str, list[float]] = {name: [] for name in paths}
            for i in range(1 if c == 1 else repeats):
                # Rotate the order so no path always gets the warmest connections.
                names = list(paths)
                names = names[i % len(names):] + names[: i % len(names)]
                for name in names:
                    wall, cpu_s = timed(paths[name], c)
                    times[name].append(wall)
                    cpu[name].append(cpu_s / n_calls)
            ideal = math.ceil(n_calls / c) * per_call
            walls = {name: median(values) for name, values in times.items()}
            for name, wall in walls.items():
                bare = BARE_OF.get(name)
                rows.append(
                    {
                        "path": f"c={c} · {name}",
                        "calls": n_calls,
                        "runs": len(times[name]),
                        "per-call latency (ms)": per_call * 1000,
                        "ideal (s)": ideal,
                        "median wall (s)": wall,
                        "client CPU per call (ms)": median(cpu[name]) * 1000,
                        "× ideal": _with_target(wall / ideal, None),
                        "× bare": "" if bare is None else _with_target(wall / walls[bare], TARGET_BARE),
                    }
                )
        return rows


def main() -> None:
    print_table(
        f"Batch and async wall time vs ideal: {N_CALLS} calls through the netem proxy "
        f"(+{LATENCY_MS} ms) to a local stub",
        run(),
    )


if __name__ == "__main__":
    main()
