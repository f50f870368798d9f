"""The cost of the OpenTelemetry export: the app's stream path with the export on, and off.

Both paths are the app's own: `StreamCapture` with the session ledger's `CallTracer` and the
traced HTTP client, streaming the same prompts from the same embedded server (temperature 0, a
fixed seed: the same tokens). "On" is the export of `core.export.otel` running, to an OTLP/HTTP
receiver in a process of its own on 127.0.0.1 (it answers every POST with 200, as a collector
does): each call queued by the tracer, turned into spans by the export's worker thread, sent by
the SDK's batch processor, and its metrics recorded. "Off" is the same process with the export's
listener removed. The paths alternate which goes first in each round; the comparison is the
median of paired differences and ratios.
Target: first token with the export ≤ without + 1 ms, total ≤ 1.02 × without.

Run: `.venv/bin/python -m bench.otel_overhead` (or `make bench` for every benchmark).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from bench.common import STREAM_PROMPTS as PROMPTS
from bench.common import median, paired_rounds, print_table

MAX_TOKENS = 64
ROUNDS = 7

Sample = tuple[float, float, Any]  # first text s, total s, the call's trace

# A receiver in its own process: reads each request and answers 200 (an empty OTLP response).
_RECEIVER = r"""
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the OTLP receiver did not start")


def _stream(llm, prompt: str) -> Sample:
    from core.money.ledger import SessionLedger
    from core.patterns.streaming import StreamCapture

    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="bench", provider="Local")]}
    start = time.perf_counter()
    capture = StreamCapture(llm, prompt, config)
    for _ in capture.text_chunks():
        pass
    total = time.perf_counter() - start
    return capture.record.trace.ttft_s or float("nan"), total, capture.record.trace


def run(rounds: int = ROUNDS) -> list[dict[str, object]]:
    """Measure the stream path with and without the export in paired rounds."""
    from core.call.models import build_chat_model, resolve_endpoint
    from core.call.tracing import add_listener, remove_listener
    from core.embedded_server import start_embedded_server
    from core.export.otel import start_export, stop_export
    from core.settings import ModelSettings, Provider

    receiver, url = _start_receiver()
    server = start_embedded_server()
    try:
        export = start_export({"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_SERVICE_NAME": "lab-bench"})
        assert export is not None
        settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS, seed=7)
        llm = build_chat_model(settings, resolve_endpoint(settings, server))

        def off(prompt: str) -> Sample:
            remove_listener(export)
            return _stream(llm, prompt)

        def on(prompt: str) -> Sample:
            add_listener(export)
            try:
                return _stream(llm, prompt)
            finally:
                remove_listener(export)
                # The spans are built after the call, off its thread: let that finish here, so it
                # does not land in the next sample (an "off" one half the time). Its own cost is
                # the row below.
                export.flush(30.0)

        off(PROMPTS[0])
        on(PROMPTS[0])
        without, with_export = paired_rounds(off, on, PROMPTS, rounds)
        exported = export.flush(30.0) and export.collect_metrics(30.0)
        # What a call pays on its own thread: the listener queues the closed trace, nothing more.
        sample = _stream(llm, PROMPTS[0])[2]
        queued_us = _per_call_us(lambda: export.closed(sample, (), None))
        export.flush(60.0)
        # ... and the worker's time to turn one call into its spans and metrics (off that thread).
        start = time.perf_counter()
        for _ in range(QUEUED_CALLS):
            export.closed(sample, (), None)
        export.flush(60.0)
        worker_ms = (time.perf_counter() - start) / QUEUED_CALLS * 1000
    finally:
        stop_export()
        server.stop()
        receiver.kill()
        receiver.wait()

    def row(name: str, samples: list[Sample]) -> dict[str, object]:
        return {
            "path": name,
            "runs": len(samples),
            "median first token (ms)": median(s[0] for s in samples) * 1000,
            "median total (ms)": median(s[1] for s in samples) * 1000,
        }

    pairs = list(zip(without, with_export, strict=True))
    first_delta = median(b[0] - a[0] for a, b in pairs) * 1000
    total_ratio = median(b[1] / a[1] for a, b in pairs)
    verdict = {
        "path": "export on vs off (median of paired runs)",
        "runs": len(pairs),
        "median first token (ms)": f"{first_delta:+.2f} ms (target ≤ +1)",
        "median total (ms)": f"× {total_ratio:.3f} (target ≤ 1.02)",
    }
    hot_path = {"path": "export on: per call, queueing its trace (its thread) · building and sending its spans "
                        "(the export's threads, after it)", "runs": QUEUED_CALLS,
                "median first token (ms)": f"{queued_us:.1f} µs", "median total (ms)": f"{worker_ms:.2f} ms"}
    return [row("export off (StreamCapture + CallTracer + traced client)", without),
            row(f"export on (spans and metrics to a local OTLP receiver{'' if exported else ', NOT all sent'})",
                with_export), verdict, hot_path]


QUEUED_CALLS = 200


def _per_call_us(call: Callable[[], object]) -> float:
    """Median of 5 batches of `QUEUED_CALLS` calls, in µs per call."""
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(QUEUED_CALLS):
            call()
        batches.append((time.perf_counter() - start) / QUEUED_CALLS * 1e6)
    return median(batches)


def main() -> None:
    print_table("The cost of the OpenTelemetry export on the embedded model", run())


if __name__ == "__main__":
    main()
