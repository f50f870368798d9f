"""A real OpenTelemetry receiver on 127.0.0.1 for tests: Arize Phoenix, served from its package.

Phoenix takes OTLP/HTTP traces on its UI port (``/v1/traces``) and lists what it stored through
its REST API (``/v1/projects/{project}/spans``). It starts in ~15 s on 2 cores (its database
migrations included), so a test module starts it once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Phoenix:
    """A Phoenix server this process started.

    Attributes:
        base_url: its HTTP root; OTLP traces go to ``{base_url}/v1/traces``.
        process: the server process.
        log_path: where its output goes.
    """

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_s: float = 0.0
    _log: Any = field(default=None, repr=False)

    def raw_spans(self, project: str = "default") -> str:
        """Every span Phoenix stored in `project`, as the JSON text its REST API returns."""
        url = f"{self.base_url}/v1/projects/{project}/spans?limit=1000"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # the project appears with its first span
                return '{"data": []}'
            raise

    def spans(self, project: str = "default") -> list[dict[str, Any]]:
        """`raw_spans`, parsed: each span's name, context, parent_id, attributes and events."""
        return list(json.loads(self.raw_spans(project))["data"])

    def wait_for_spans(
        self, ready: Callable[[list[dict[str, Any]]], bool], project: str = "default", timeout_s: float = 30.0
    ) -> list[dict[str, Any]]:
        """The spans once `ready(spans)` holds, or at the timeout: Phoenix answers an export before
        it has stored every span, so a test waits for the whole shape it expects."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.spans(project)
            if ready(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.25)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._log is not None:
            self._log.close()


def start_phoenix(workdir: Path) -> Phoenix:
    """Start Phoenix on free loopback ports with its data under `workdir`; wait until it answers."""
    port = _free_port()
    env = dict(os.environ)
    # Phoenix reads these; its own OTel variables must not point it at anything else.
    for name in list(env):
        if name.startswith("OTEL_"):
            del env[name]
    env.update({
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    })
    log_path = workdir / "phoenix.log"
    log = log_path.open("wb")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "phoenix.server.main", "serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    server = Phoenix(f"http://127.0.0.1:{port}", process, log_path, _log=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"Phoenix exited at start; see {log_path}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=1):
                server.started_s = time.perf_counter() - started
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"Phoenix did not answer within {START_TIMEOUT_S:.0f} s; see {log_path}")
