"""The network-conditions proxy, in front of the real embedded model.

Every test talks HTTP to a real proxy on 127.0.0.1, which talks HTTP to the real llama.cpp
server (or, where only the proxy's timing matters, to an instant fake endpoint): what is
asserted is what a client of a slow, limited or flaky API would see.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.embedded_server import EmbeddedModelServer
from core.network.conditions import PRESETS, NetworkConditions
from core.network.proxy import NetworkProxy
from core.patterns.streaming import StreamCapture, timed_invoke
from core.settings import ModelSettings


def _chat_body(stream: bool, max_tokens: int = 8) -> dict:
    return {
        "model": "SmolLM2-135M-Instruct",
        "messages": [{"role": "user", "content": "Count from one to ten."}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    }


def _llm(proxy, server, conditions, settings: ModelSettings, scope: str = "test", **overrides):
    route = proxy.route(server.base_url, server.api_key, conditions, scope=scope)
    endpoint = Endpoint(
        provider=settings.provider, base_url=route.base_url, model=server.model_name,
        api_key=SecretStr(route.key), key_env_var="LAB_LOCAL_API_KEY",
    )
    return build_chat_model(settings, endpoint, **overrides)


def test_pass_through_gives_the_same_answer_as_the_direct_line(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer, local_settings: ModelSettings,
    local_llm,
) -> None:
    direct = timed_invoke(local_llm, "What is the capital of France?")
    via = StreamCapture(_llm(proxy, embedded_server, NetworkConditions(), local_settings), "What is the capital of France?")
    list(via.text_chunks())
    assert direct.ok and via.record.ok
    assert via.record.text == direct.text
    assert via.record.usage is not None and via.record.usage.output_tokens == direct.usage.output_tokens
    assert via.record.chunk_count > 3


def test_streamed_chunks_are_passed_on_one_by_one_not_buffered(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer, local_settings: ModelSettings,
) -> None:
    # 60 ms before each chunk: a proxy that buffered the answer would deliver every chunk at
    # the same moment; one that streams spreads them over at least (n - 1) x 60 ms.
    slow = NetworkConditions(per_chunk_latency_ms=60)
    capture = StreamCapture(_llm(proxy, embedded_server, slow, local_settings), "Count from one to ten.")
    list(capture.text_chunks())
    chunks = capture.record.trace.text_times_s
    assert capture.record.ok and len(chunks) >= 4
    assert chunks[-1] - chunks[0] >= (len(chunks) - 1) * 0.06 * 0.9


def test_the_proxy_requires_its_own_key_and_never_forwards_it(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer,
) -> None:
    route = proxy.route(embedded_server.base_url, embedded_server.api_key, PRESETS["Remote API ~300 ms"], scope="keys")
    url = f"{route.base_url}/chat/completions"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Bearer {embedded_server.api_key}"}):
        answer = httpx.post(url, json=_chat_body(False), headers=headers, timeout=30)
        assert answer.status_code == 401, headers
        assert embedded_server.api_key not in answer.text
    good = httpx.post(url, json=_chat_body(False), headers={"authorization": f"Bearer {route.key}"}, timeout=30)
    assert good.status_code == 200
    assert good.json()["choices"][0]["message"]["content"]
    assert route.key not in good.text and embedded_server.api_key not in good.text
    assert route.key != embedded_server.api_key


def test_concurrency_limit_answers_429_with_retry_after(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer,
) -> None:
    # Two at once; the first byte waits 400 ms, so six requests sent together overlap.
    route = proxy.route(
        embedded_server.base_url, embedded_server.api_key,
        NetworkConditions(max_concurrent=2, first_byte_latency_ms=400), scope="limits",
    )

    def call(_: int) -> httpx.Response:
        return httpx.post(
            f"{route.base_url}/chat/completions", json=_chat_body(False, 2),
            headers={"authorization": f"Bearer {route.key}"}, timeout=30,
        )

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(call, range(6)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) >= 2 and codes.count(429) >= 1, codes
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert "2 requests at once" in refused.json()["error"]["message"]
    assert route.stats.rate_limited == codes.count(429)


def test_requests_per_minute_limit_says_when_to_come_back(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer,
) -> None:
    route = proxy.route(
        embedded_server.base_url, embedded_server.api_key,
        NetworkConditions(requests_per_minute=2), scope="rpm",
    )
    codes, last = [], None
    for _ in range(3):
        last = httpx.post(
            f"{route.base_url}/chat/completions", json=_chat_body(False, 1),
            headers={"authorization": f"Bearer {route.key}"}, timeout=30,
        )
        codes.append(last.status_code)
    assert codes == [200, 200, 429]
    assert 1 <= int(last.headers["retry-after"]) <= 60
    assert "2 requests per minute" in last.json()["error"]["message"]


def test_error_rate_is_repeatable_with_a_seed(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer,
) -> None:
    flaky = NetworkConditions(error_rate=0.5, seed=3)

    def pattern(scope: str) -> list[int]:
        route = proxy.route(embedded_server.base_url, embedded_server.api_key, flaky, scope=scope)
        return [
            httpx.post(
                f"{route.base_url}/chat/completions", json=_chat_body(False, 1),
                headers={"authorization": f"Bearer {route.key}"}, timeout=30,
            ).status_code
            for _ in range(6)
        ]

    first = pattern("seed-a")
    assert set(first) == {200, 503}
    assert pattern("seed-b") == first


def test_stall_outlasts_the_client_timeout(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer, local_settings: ModelSettings,
) -> None:
    llm = _llm(proxy, embedded_server, NetworkConditions(stall=True), local_settings, scope="stall", timeout=0.5, max_retries=0)
    record = timed_invoke(llm, "Say hi.")
    assert record.error is not None and record.error.kind == "timeout"
    assert proxy.stats("stall").stalled == 1
    # The proxy noticed the client leaving: nothing stays in flight.
    deadline = time.monotonic() + 5
    route = proxy.route(embedded_server.base_url, embedded_server.api_key, NetworkConditions(stall=True), scope="stall")
    while route.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert route.in_flight == 0


def test_a_cut_stream_keeps_the_chunks_that_arrived(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer, local_settings: ModelSettings,
) -> None:
    llm = _llm(proxy, embedded_server, NetworkConditions(cut_stream_after_chunks=4), local_settings, scope="cut", max_retries=0)
    capture = StreamCapture(llm, "Count from one to ten.")
    pieces = list(capture.text_chunks())
    record = capture.record
    assert record.error is not None
    assert pieces and "".join(pieces) == record.text
    assert record.chunk_count_all <= 4
    assert proxy.stats("cut").cut == 1


def test_scopes_never_share_limits_keys_or_counters(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer,
) -> None:
    one_at_a_time = NetworkConditions(max_concurrent=1, first_byte_latency_ms=500)
    a = proxy.route(embedded_server.base_url, embedded_server.api_key, one_at_a_time, scope="alice")
    b = proxy.route(embedded_server.base_url, embedded_server.api_key, one_at_a_time, scope="bob")
    assert a.key != b.key
    assert proxy.route(embedded_server.base_url, embedded_server.api_key, one_at_a_time, scope="alice") is a

    def call(route) -> int:
        return httpx.post(
            f"{route.base_url}/chat/completions", json=_chat_body(False, 1),
            headers={"authorization": f"Bearer {route.key}"}, timeout=30,
        ).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(call, [a, b]))
    assert codes == [200, 200]  # each session had its one slot
    assert proxy.stats("alice").requests == 1 and proxy.stats("bob").requests == 1
