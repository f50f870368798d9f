"""The "Show the code" snippets run as shown, against the real embedded model, with no key inside."""

from __future__ import annotations

import itertools
import subprocess
import sys

from pydantic import SecretStr

from core.call.models import Endpoint, resolve_endpoint
from core.embedded_server import EmbeddedModelServer
from core.export.snippets import streaming_code
from core.settings import ModelSettings, Provider


def run_snippet(code: str, env_var: str, key: str) -> subprocess.CompletedProcess[str]:
    """Run the snippet in a fresh interpreter, as a user pasting it would."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", env_var: key},
        capture_output=True, text=True, timeout=120,
    )


def test_streaming_snippet_runs_against_the_embedded_model(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    endpoint = resolve_endpoint(local_settings, embedded_server)
    code = streaming_code(local_settings, endpoint, "Say hi in five words.")
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "time to first token:" in result.stdout
    assert "'output_tokens':" in result.stdout  # usage arrived in the final chunk


def test_rate_limit_snippet_spaces_the_requests_and_none_is_refused(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    from core.export.snippets import rate_limit_code

    endpoint = resolve_endpoint(local_settings.with_changes(max_tokens=4), embedded_server)
    code = rate_limit_code(local_settings.with_changes(max_tokens=4), endpoint,
                           ["Say 1.", "Say 2.", "Say 3."], 8, 4.0)
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    sent = [float(line.split()[0]) for line in result.stdout.splitlines() if line.endswith("request sent")]
    assert len(sent) == 3
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(sent))  # 1 / 4 per second, less the check slack
    assert "HTTP 200" in result.stdout and "HTTP 429" not in result.stdout
    assert "3 calls in" in result.stdout


def test_retry_snippet_retries_both_ways_through_injected_503s(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    from core.export.snippets import retry_code
    from core.network.conditions import NetworkConditions
    from core.network.proxy import start_network_proxy

    # Seed 40 at a 50% error rate: 503 then OK (the client's run), then 503, 503, OK (with_retry's).
    proxy = start_network_proxy()
    try:
        route = proxy.route(embedded_server.base_url, embedded_server.api_key,
                            NetworkConditions(error_rate=0.5, seed=40), scope="snippet")
        endpoint = Endpoint(Provider.LOCAL, route.base_url, embedded_server.model_name,
                            SecretStr(route.key), "LAB_LOCAL_API_KEY")
        code = retry_code(local_settings.with_changes(max_tokens=4), endpoint, ["Say hi."], 4)
        result = run_snippet(code, endpoint.key_env_var, route.key)
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    client_part, runnable_part = result.stdout.split("--- with_retry")
    assert "HTTP 503  client retry #0" in client_part and "HTTP 200  client retry #1" in client_part
    assert runnable_part.count("HTTP 503  client retry #0") == 2  # with_retry: new calls each time
    assert "HTTP 200  client retry #0" in runnable_part
    assert "Exception" not in result.stdout and "Error(" not in result.stdout


def test_compare_snippet_races_two_endpoints_against_the_embedded_model(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    from core.export.snippets import compare_code
    from core.network.conditions import PRESETS
    from core.network.proxy import start_network_proxy

    local_settings = local_settings.with_changes(max_tokens=8)  # two streams on a shared machine
    endpoint = resolve_endpoint(local_settings, embedded_server)
    proxy = start_network_proxy()
    try:
        route = proxy.route(endpoint.base_url, embedded_server.api_key, PRESETS["Remote API ~300 ms"])
        remote = Endpoint(provider=endpoint.provider, base_url=route.base_url, model=endpoint.model,
                          api_key=SecretStr(route.key), key_env_var=endpoint.key_env_var,
                          upstream=endpoint, network="Remote API ~300 ms")
        code = compare_code([local_settings, local_settings], [endpoint, remote], "Say hi.",
                            labels=["A · Embedded model", "B · Embedded model · Remote API ~300 ms"])
        assert embedded_server.api_key not in code and route.key not in code
        assert route.base_url not in code  # the snippet calls the real endpoint, not the lab's proxy
    finally:
        proxy.stop()
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if "first token" in line]
    assert len(lines) == 2, result.stdout
    assert all("finish reason" in line and "'output_tokens':" in line for line in lines)


def test_load_snippet_offers_requests_at_a_rate_and_reports_what_arrived(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    from core.export.snippets import load_code

    settings = local_settings.with_changes(max_tokens=4, max_retries=0)
    endpoint = resolve_endpoint(settings, embedded_server)
    code = load_code(settings, endpoint, ["Say hi.", "Say bye."], rate_per_s=8.0, requests=3, max_in_flight=2)
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "completed: 3 of 3" in result.stdout and "(target 8.0)" in result.stdout
    assert "TTFT: p50" in result.stdout and "failed:" not in result.stdout


def test_chat_snippet_holds_a_conversation_and_turn_two_reads_the_cache(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    import re

    from core.export.snippets import chat_code

    settings = local_settings.with_changes(max_tokens=12)
    endpoint = resolve_endpoint(settings, embedded_server)
    for strategy in ("Keep everything", "Trim to a token budget", "Summarise older turns"):
        code = chat_code(settings, endpoint, "Answer in one short sentence.", strategy, budget_tokens=60, keep_turns=1)
        assert embedded_server.api_key not in code
        result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
        assert result.returncode == 0, (strategy, result.stderr[-2000:])
        turns = re.findall(r"input tokens: (\d+) \(cached: (\d+)\), time to first token: [\d.]+ s", result.stdout)
        assert len(turns) == 3, (strategy, result.stdout)
        if strategy == "Keep everything":
            assert int(turns[1][1]) > 0  # turn 2 starts with turn 1's prompt and answer: cached
            assert int(turns[0][0]) < int(turns[1][0]) < int(turns[2][0])  # the history grows
