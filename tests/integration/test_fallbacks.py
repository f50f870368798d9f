"""with_fallbacks from a failing endpoint to the embedded model, read from astream_events."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.embedded_server import EmbeddedModelServer
from core.export.snippets import fallback_code
from core.network.conditions import NetworkConditions
from core.network.proxy import start_network_proxy
from core.patterns.events import EventRecorder, fresh_async_http_client, stream_events
from core.patterns.fallbacks import fallback_problem, read_outcome, with_fallback
from core.settings import ModelSettings, Provider

WRONG = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:9/v1", "SmolLM2-135M-Instruct",
                 SecretStr("not-needed"), "LAB_COMPAT_API_KEY")


def _watch(primary: Endpoint, fallback: Endpoint, settings: ModelSettings) -> EventRecorder:
    clients = (fresh_async_http_client(), fresh_async_http_client())
    chain = with_fallback(
        build_chat_model(settings, primary, max_retries=0, http_async_client=clients[0]),
        build_chat_model(settings, fallback, http_async_client=clients[1]),
    )
    recorder = EventRecorder()
    for _ in recorder.watch(stream_events(chain, "Say hi.", http_clients=clients)):
        pass
    return recorder


@pytest.mark.parametrize("failure", ["all errors", "wrong base URL"])
def test_a_failing_primary_falls_back_and_the_events_show_both_runs(
    failure: str, local_endpoint: Endpoint, local_settings: ModelSettings,
    embedded_server: EmbeddedModelServer,
) -> None:
    proxy = start_network_proxy()
    try:
        if failure == "all errors":
            route = proxy.route(embedded_server.base_url, embedded_server.api_key,
                                NetworkConditions(error_rate=1.0), scope="fallback")
            primary = Endpoint(Provider.LOCAL, route.base_url, local_endpoint.model,
                               SecretStr(route.key), "LAB_LOCAL_API_KEY")
        else:
            primary = WRONG
        recorder = _watch(primary, local_endpoint, local_settings.with_changes(max_tokens=8))
    finally:
        proxy.stop()
    assert recorder.error is None  # the fallback answered: the chain did not fail
    outcome = read_outcome(recorder.events)
    assert outcome.answered_by == "fallback" and outcome.primary_failed
    assert outcome.model_name and "SmolLM2" in outcome.model_name and outcome.text
    starts = [e.name for e in recorder.events if e.event == "on_chat_model_start"]
    assert starts == ["primary", "fallback"]  # two model runs of their own ...
    parents = {e.parent_id for e in recorder.events if e.event == "on_chat_model_start"}
    assert len(parents) == 1  # ... under the one RunnableWithFallbacks run


def test_a_fallback_to_the_same_endpoint_is_refused_with_a_reason(local_endpoint: Endpoint) -> None:
    problem = fallback_problem(local_endpoint, local_endpoint)
    assert problem and "same endpoint" in problem and "fail again" in problem
    assert fallback_problem(WRONG, local_endpoint) is None


def test_fallback_snippet_answers_from_the_fallback(
    local_endpoint: Endpoint, local_settings: ModelSettings, embedded_server: EmbeddedModelServer
) -> None:
    code = fallback_code(local_settings.with_changes(max_tokens=8), WRONG, local_endpoint, "Say hi.")
    assert embedded_server.api_key not in code
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "LAB_COMPAT_API_KEY": "not-needed",
             "LAB_LOCAL_API_KEY": embedded_server.api_key},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "answered by: SmolLM2" in result.stdout
