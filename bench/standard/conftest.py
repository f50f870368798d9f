"""Starts the embedded model once and records each test's outcome for bench/standard_tests.py."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.embedded_server import EmbeddedModelServer, start_embedded_server  # noqa: E402 - after sys.path

_SERVER: list[EmbeddedModelServer] = []
_OUTCOMES: dict[str, str] = {}


def embedded() -> EmbeddedModelServer:
    """The embedded server, started on first use and stopped at the end of the session."""
    if not _SERVER:
        _SERVER.append(start_embedded_server())
    return _SERVER[0]


@pytest.fixture(scope="session", autouse=True)
def _stop_server() -> Iterator[None]:
    yield
    for server in _SERVER:
        server.stop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Setup skips (unsupported features) and call failures both count; a test's worst phase wins.
    name = report.nodeid.split("::")[-1]
    if report.skipped:
        _OUTCOMES[name] = "skipped"
    elif report.failed:
        _OUTCOMES[name] = "failed"
    elif report.when == "call" and _OUTCOMES.get(name) is None:
        _OUTCOMES[name] = "passed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("LAB_STANDARD_TESTS_OUT")
    if out:
        Path(out).write_text(json.dumps(_OUTCOMES, indent=1))
