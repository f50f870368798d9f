"""astream_events v2 and v3 on the same call, against the real embedded model."""

from __future__ import annotations

import warnings

from core.call.models import Endpoint, build_chat_model
from core.embedded_server import EmbeddedModelServer
from core.export.snippets import events_v3_code
from core.patterns.events import fresh_async_http_client
from core.patterns.events_v3 import run_both_versions
from core.settings import ModelSettings
from tests.integration.test_snippets import run_snippet


def test_v2_and_v3_give_the_same_answer_and_usage_in_their_own_shapes(
    local_endpoint: Endpoint, local_settings: ModelSettings
) -> None:
    settings = local_settings.with_changes(max_tokens=10)

    def make():
        http = fresh_async_http_client()
        return build_chat_model(settings, local_endpoint, http_async_client=http), http.aclose

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may reach the terminal: the beta warning is captured
        v2, v3 = run_both_versions(make, "Say hi.")
    assert v2.problem is None and v3.problem is None
    assert v2.text and v2.text == v3.text  # temperature 0 and a seed: the same answer
    assert v2.usage is not None and v3.usage is not None
    assert v2.usage.output_tokens == v3.usage.output_tokens == 10
    assert {"on_chat_model_start", "on_chat_model_stream", "on_chat_model_end"} <= set(v2.counts)
    assert {"message-start", "content-block-delta", "message-finish"} <= set(v3.counts)
    assert v3.reasoning is None and v3.tool_calls == []
    assert v3.beta_warning and "beta" in v3.beta_warning


def test_events_v3_snippet_runs(embedded_server: EmbeddedModelServer, local_settings: ModelSettings,
                                local_endpoint: Endpoint) -> None:
    code = events_v3_code(local_settings.with_changes(max_tokens=8), local_endpoint, "Say hi.")
    result = run_snippet(code, local_endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "on_chat_model_end" in result.stdout and "message-finish" in result.stdout
    assert "'output_tokens': 8" in result.stdout
    assert "LangChainBetaWarning" not in result.stderr
