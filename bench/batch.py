"""Batch: wall time against the ideal `ceil(N / c) × per-call latency`, and runner overhead.

The endpoint is latency-bound on purpose: the lab's network-conditions proxy (core.netem) adds a
fixed 300 ms before every answer, in front of a tiny local OpenAI-compatible stub that answers at
once (a real model on 2 CPU cores would make the CPU, not the waiting, the bottleneck — the app's
sweep shows that case). So every call costs about the same and the ideal is well defined:

* per-call latency: the median of single calls through the same path;
* ideal wall time at concurrency c: `ceil(N / c)` rounds of that latency;
* measured: the app's batch runner (`core.batch_jobs.run_job`: `batch_as_completed`, a SQLite
  write per row start and end, the ledger callback) and a bare `llm.batch` on the same inputs.

Targets: runner ≤ 1.10 × ideal at c = 16; runner ≤ 1.05 × bare `llm.batch`.

Run: `.venv/bin/python -m bench.batch` (or `make bench` for every benchmark).
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import median, print_table

N_CALLS = 32
LEVELS = (1, 4, 16)
LATENCY_MS = 300
REPEATS = 3  # per level, except c = 1 (one run: it is the slow one, and the steadiest)


class _StubHandler(BaseHTTPRequestHandler):
    """`POST /v1/chat/completions` answered at once with "ok" and usage: no model, no waiting."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        body = json.dumps(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.get("model", "stub"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep the bench's output to its table
        pass


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 refuses a burst of 16 new connections


def _start_stub() -> ThreadingHTTPServer:
    server = _StubServer(("127.0.0.1", 0), _StubHandler)
    threading.Thread(target=server.serve_forever, name="bench-stub", daemon=True).start()
    return server


def run(n_calls: int = N_CALLS, levels: tuple[int, ...] = LEVELS, repeats: int = REPEATS) -> list[dict[str, object]]:
    """One row per concurrency level: per-call latency, ideal, runner and bare batch times."""
    from core.batch_jobs import JobStore, RunOptions, run_job
    from core.ledger import SessionLedger
    from core.models import Endpoint, build_chat_model
    from core.netem import NetworkConditions, start_network_proxy
    from core.settings import ModelSettings, Provider
    from pydantic import SecretStr

    stub = _start_stub()
    proxy = start_network_proxy()
    try:
        upstream = f"http://127.0.0.1:{stub.server_address[1]}/v1"
        route = proxy.route(upstream, "stub-key", NetworkConditions(first_byte_latency_ms=LATENCY_MS))
        endpoint = Endpoint(Provider.COMPATIBLE, route.base_url, "stub", SecretStr(route.key), "LAB_COMPAT_API_KEY")
        settings = ModelSettings(provider=Provider.COMPATIBLE, model="stub", base_url=route.base_url,
                                 temperature=0.0, max_tokens=8, max_retries=0, timeout_s=30)
        llm = build_chat_model(settings, endpoint)
        prompts = [f"Question {i}: what is {i} + {i}?" for i in range(n_calls)]
        store = JobStore(Path(tempfile.mkdtemp(prefix="bench-batch-")) / "batch.sqlite3")
        ledger = SessionLedger()
        config = {"callbacks": [ledger.callback(pattern="bench", provider="stub")]}

        # Warm the connections, then measure one call's latency on its own.
        llm.batch(prompts[:16], config={"max_concurrency": 16})
        singles = []
        for prompt in prompts[:5]:
            start = time.perf_counter()
            llm.invoke(prompt)
            singles.append(time.perf_counter() - start)
        per_call = median(singles)

        def runner(c: int) -> float:
            job_id = store.create_job(prompts, source="bench", endpoint="stub", model="stub", max_concurrency=c)
            info = run_job(store, job_id, llm, RunOptions(max_concurrency=c, config=config))
            assert info.n_rows == info.completed == n_calls, info.counts
            return float(info.wall_s or 0)

        def bare(c: int) -> float:
            start = time.perf_counter()
            llm.batch(prompts, config={"max_concurrency": c})
            return time.perf_counter() - start

        rows: list[dict[str, object]] = []
        for c in levels:
            times_runner, times_bare = [], []
            for i in range(1 if c == 1 else repeats):
                # Alternate which goes first so neither always gets the warmer pool.
                if i % 2:
                    times_bare.append(bare(c))
                    times_runner.append(runner(c))
                else:
                    times_runner.append(runner(c))
                    times_bare.append(bare(c))
            ideal = math.ceil(n_calls / c) * per_call
            app_s, bare_s = median(times_runner), median(times_bare)
            rows.append(
                {
                    "max_concurrency": c,
                    "calls": n_calls,
                    "runs": len(times_runner),
                    "per-call latency (ms)": per_call * 1000,
                    "ideal (s)": ideal,
                    "app runner (s)": app_s,
                    "runner / ideal": f"{app_s / ideal:.3f}" + (" (target ≤ 1.10)" if c == 16 else ""),
                    "bare llm.batch (s)": bare_s,
                    "runner / bare": f"{app_s / bare_s:.3f} (target ≤ 1.05)",
                }
            )
        return rows
    finally:
        proxy.stop()
        stub.shutdown()


def main() -> None:
    print_table(
        f"Batch wall time vs ideal: {N_CALLS} calls through the netem proxy (+{LATENCY_MS} ms) "
        "to a local stub",
        run(),
    )


if __name__ == "__main__":
    main()
