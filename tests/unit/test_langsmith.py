"""LangSmith tracing from `.env`: loaded like load_dotenv, read like langsmith, off in tests."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langsmith import utils as ls_utils

from core.export.langsmith import (
    DEFAULT_PROJECT,
    forget_cached_settings,
    load_env_file,
    switch_tracing_off,
    tracing_status,
)


@pytest.fixture
def restored_environ() -> Iterator[None]:
    """Whatever a test loads into os.environ is gone afterwards (and langsmith forgets it)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_settings()


def test_the_suite_runs_with_tracing_off() -> None:
    assert os.environ["LANGSMITH_TRACING"] == "false"
    assert ls_utils.tracing_is_enabled() is False
    assert tracing_status(os.environ).enabled is False


@pytest.mark.parametrize(
    "env",
    [
        {"LANGSMITH_TRACING": "true", "LANGSMITH_PROJECT": "lab"},
        {"LANGCHAIN_TRACING_V2": "true", "LANGCHAIN_PROJECT": "legacy"},
        {"LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "true"},  # V2 is read first
        {"LANGSMITH_TRACING": "  ", "LANGCHAIN_TRACING": "true"},  # blank counts as unset
        {"LANGSMITH_TRACING": "True"},  # only the exact "true" switches it on
        {},
    ],
)
def test_the_status_agrees_with_langsmith_itself(env: dict[str, str], restored_environ: None) -> None:
    for name in list(os.environ):
        if name.startswith(("LANGSMITH_", "LANGCHAIN_")):
            del os.environ[name]
    os.environ.update(env)
    forget_cached_settings()
    status = tracing_status(os.environ)
    assert status.enabled is ls_utils.tracing_is_enabled()
    assert status.project == ls_utils.get_tracer_project()


def test_env_file_is_loaded_and_the_real_environment_wins(tmp_path: Path, restored_environ: None) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "LANGSMITH_TRACING=true\nLANGSMITH_API_KEY=lsv2-from-file\n"
        "LANGSMITH_PROJECT=from-file\nLAB_SOMETHING=1\n"
    )
    os.environ.pop("LANGSMITH_TRACING", None)  # the suite's "false" would win, as it should
    os.environ["LANGSMITH_PROJECT"] = "from-shell"
    added = load_env_file(dotenv)
    assert set(added) == {"LANGSMITH_TRACING", "LANGSMITH_API_KEY", "LAB_SOMETHING"}
    assert os.environ["LANGSMITH_PROJECT"] == "from-shell"
    # langsmith itself now sees tracing on (its cached reads were cleared).
    assert ls_utils.tracing_is_enabled() is True
    assert tracing_status(os.environ).project == "from-shell"


def test_a_missing_env_file_changes_nothing(tmp_path: Path) -> None:
    before = dict(os.environ)
    assert load_env_file(tmp_path / "nope.env") == []
    assert dict(os.environ) == before


def test_tracing_on_without_a_key_says_what_to_do() -> None:
    status = tracing_status({"LANGSMITH_TRACING": "true"})
    assert status.enabled and not status.has_key
    assert status.problem is not None and "LANGSMITH_API_KEY" in status.problem
    assert status.project == DEFAULT_PROJECT


def test_switching_off_beats_a_shell_that_exports_tracing() -> None:
    env = {"LANGCHAIN_TRACING_V2": "true", "LANGSMITH_TRACING_V2": "true", "LANGSMITH_API_KEY": "k"}
    switch_tracing_off(env)
    assert env == {"LANGSMITH_TRACING": "false"}
    assert not tracing_status(env).enabled


class _LangSmithStub(http.server.BaseHTTPRequestHandler):
    """Records what the LangSmith client sends; answers every request with an empty JSON."""

    received: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.received.append((self.command, self.path, dict(self.headers), body))
        payload = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_tracing_from_env_file_sends_the_run_to_the_langsmith_endpoint(
    tmp_path: Path, restored_environ: None
) -> None:
    """LANGSMITH_TRACING=true in .env really traces: the run reaches a LangSmith stub on loopback."""
    from langchain_core.tracers.langchain import wait_for_all_tracers

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LangSmithStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dotenv = tmp_path / ".env"
        dotenv.write_text(
            "LANGSMITH_TRACING=true\nLANGSMITH_API_KEY=lsv2-planted-key\n"
            "LANGSMITH_PROJECT=lab-test-project\n"
            f"LANGSMITH_ENDPOINT=http://127.0.0.1:{server.server_port}\n"
        )
        os.environ.pop("LANGSMITH_TRACING", None)
        load_env_file(dotenv)
        FakeListChatModel(responses=["traced answer"]).invoke("hello")
        wait_for_all_tracers()
    finally:
        server.shutdown()
    posts = [r for r in _LangSmithStub.received if r[0] in ("POST", "PATCH")]
    assert posts, "no run reached the LangSmith endpoint"
    sent = b"".join(body for *_, body in posts)
    assert b"traced answer" in sent and b"lab-test-project" in sent
    assert any(headers.get("x-api-key") == "lsv2-planted-key" for _, _, headers, _ in posts)
