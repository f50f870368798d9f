"""The Async page's "Show the code" scripts run as shown against the real embedded model."""

from __future__ import annotations

import pytest

from core.call.models import resolve_endpoint
from core.embedded_server import EmbeddedModelServer
from core.export.snippets import async_code
from core.patterns.concurrency import Mode
from core.settings import ModelSettings
from tests.integration.test_snippets import run_snippet

QUESTIONS = ["What is AI?", "What is ML?"]


@pytest.mark.parametrize("mode", list(Mode))
def test_async_snippet_runs_and_answers_every_question(
    mode: Mode, embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    settings = local_settings.with_changes(max_tokens=12)
    endpoint = resolve_endpoint(settings, embedded_server)
    code = async_code(mode.value, settings, endpoint, QUESTIONS, max_concurrency=1)
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wall time:" in result.stdout
    for question in QUESTIONS:
        line = next(li for li in result.stdout.splitlines() if question in li and "->" in li)
        assert "Error" not in line and "failed:" not in line, line
    if mode is Mode.ASTREAM:
        assert "[0] " in result.stdout and "[1] " in result.stdout  # both streams printed tokens
    if mode is Mode.ABATCH:
        assert '"max_concurrency": 1' in code
