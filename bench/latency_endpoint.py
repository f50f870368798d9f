"""A latency-bound OpenAI-compatible endpoint in a process of its own, for the batch benchmark.

A tiny stub answers `POST /v1/chat/completions` at once with "ok" and usage (or, for
`stream: true`, 32 word chunks as server-sent events); the lab's
network-conditions proxy (core.network.proxy) holds every request a fixed time in front of it. So every
call costs the same wait and almost no work: the shape of a hosted API seen from the client.

Why its own process: with the stub and the proxy inside the benchmark's process, their Python
work would compete with the client's for the same GIL, and 16 calls at once would measure that
contention instead of the client. A real remote API shares nothing with the client either.

Run `python -m bench.latency_endpoint 300`: it prints one JSON line `{"base_url", "key"}` and
serves until its standard input closes. `latency_bound_endpoint()` does that for you.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import ROOT

STREAM_TOKENS = 32  # chunks in a streamed answer (the proxy spaces them: per_chunk_ms)


class _StubHandler(BaseHTTPRequestHandler):
    """`POST /v1/chat/completions` answered at once with "ok" and usage: no model, no waiting."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the second waits for
    # the client's delayed ACK (~40 ms on Linux), a wait no real API adds.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # the name http.server dispatches a POST to
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if request.get("stream"):
            self._stream(request)
            return
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

    def _stream(self, request: dict[str, object]) -> None:
        """`STREAM_TOKENS` chunks of server-sent events at once, then usage (if asked) and [DONE]."""
        model = request.get("model", "stub")

        def event(delta: dict[str, object], finish: str | None = None, usage: object = None) -> bytes:
            chunk = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0,
                     "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage is not None:
                chunk |= {"choices": [], "usage": usage}
            return f"data: {json.dumps(chunk)}\n\n".encode()

        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")  # the end of the body is the end of the stream
        self.end_headers()
        self.wfile.write(event({"role": "assistant", "content": ""}))
        for i in range(STREAM_TOKENS):
            self.wfile.write(event({"content": f"word{i} "}))
        self.wfile.write(event({}, finish="stop"))
        if (request.get("stream_options") or {}).get("include_usage"):
            self.wfile.write(event({}, usage={"prompt_tokens": 12, "completion_tokens": STREAM_TOKENS,
                                              "total_tokens": 12 + STREAM_TOKENS}))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:  # keep the bench's output to its table
        pass


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 refuses a burst of 16 new connections


def serve(latency_ms: int, per_chunk_ms: int = 0) -> None:
    """Start the stub and the proxy, print where to reach them, serve until stdin closes."""
    from core.network.conditions import NetworkConditions
    from core.network.proxy import start_network_proxy

    stub = _StubServer(("127.0.0.1", 0), _StubHandler)
    threading.Thread(target=stub.serve_forever, name="bench-stub", daemon=True).start()
    proxy = start_network_proxy()
    upstream = f"http://127.0.0.1:{stub.server_address[1]}/v1"
    route = proxy.route(upstream, "stub-key", NetworkConditions(first_byte_latency_ms=latency_ms,
                                                                 per_chunk_latency_ms=per_chunk_ms))
    print(json.dumps({"base_url": route.base_url, "key": route.key}), flush=True)
    try:
        sys.stdin.read()  # returns when the parent closes the pipe (or exits)
    finally:
        proxy.stop()
        stub.shutdown()


@contextlib.contextmanager
def latency_bound_endpoint(latency_ms: int, per_chunk_ms: int = 0) -> Iterator[tuple[str, str]]:
    """Run the endpoint in a child process; yield its (base_url, key); stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.latency_endpoint", str(latency_ms), str(per_chunk_ms)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise RuntimeError("the latency-bound endpoint did not start")
        where = json.loads(line)
        yield where["base_url"], where["key"]
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 300, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
