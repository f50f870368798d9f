"""The Streaming events page's "Show the code" runs as shown, against the real embedded model."""

from __future__ import annotations

import pytest

from core.call.models import resolve_endpoint
from core.embedded_server import EmbeddedModelServer
from core.export.snippets import events_code
from core.settings import ModelSettings
from tests.integration.test_snippets import run_snippet


@pytest.mark.parametrize(
    ("chain_key", "fail_tool", "expected"),
    [
        ("tool", True, ["on_parser_end", "on_tool_start", "error in answer_stats: ValueError"]),
        ("parallel", False, ["RunnableParallel<joke,haiku>", "on_chat_model_end"]),
        ("progress", False, ["on_custom_event", "'done': 3"]),
    ],
)
def test_events_snippet_runs_and_prints_the_events(
    embedded_server: EmbeddedModelServer,
    local_settings: ModelSettings,
    chain_key: str,
    fail_tool: bool,
    expected: list[str],
) -> None:
    settings = local_settings.with_changes(max_tokens=8)
    endpoint = resolve_endpoint(settings, embedded_server)
    code = events_code(settings, endpoint, chain_key, "owls", fail_tool=fail_tool)
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    for text in expected:
        assert text in result.stdout, result.stdout[-2000:]


def test_events_snippet_passes_the_chosen_filters_to_the_api(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    settings = local_settings.with_changes(max_tokens=6)
    endpoint = resolve_endpoint(settings, embedded_server)
    code = events_code(settings, endpoint, "joke", "owls", filters={"include_types": ["chat_model"]})
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    kinds = {line.split()[2] for line in result.stdout.splitlines() if " ms  " in line}
    assert kinds == {"on_chat_model_start", "on_chat_model_stream", "on_chat_model_end"}
