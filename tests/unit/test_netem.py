"""The network-conditions proxy, in front of the real embedded model.

Every test talks HTTP to a real proxy on 127.0.0.1, which talks HTTP to the real llama.cpp
server (or, where only the proxy's timing matters, to an instant fake endpoint): what is
asserted is what a client of a slow, limited or flaky API would see.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.network.conditions import PRESETS, NetworkConditions, preset_name
from core.network.proxy import NetworkProxy
from core.settings import ModelSettings, Provider
from tests.fake_openai import FakeOpenAI


def test_presets_are_the_documented_five_and_off_is_pass_through() -> None:
    assert list(PRESETS) == [
        "Off", "Remote API ~300 ms", "Rate-limited: 4 at once", "Flaky: 10% errors", "Slow stream",
    ]
    assert PRESETS["Off"].is_passthrough
    assert not any(p.is_passthrough for name, p in PRESETS.items() if name != "Off")
    assert preset_name(NetworkConditions(max_concurrent=4)) == "Rate-limited: 4 at once"
    assert preset_name(NetworkConditions(max_concurrent=3)) is None


def test_the_proxy_listens_on_loopback_only(proxy: NetworkProxy) -> None:
    assert proxy.base_url.startswith("http://127.0.0.1:")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
            other = probe.getsockname()[0]
    except OSError:
        other = "127.0.0.1"
    if other.startswith("127."):
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(OSError), socket.create_connection((other, proxy.port), timeout=2):
        pass


def test_the_proxy_sends_small_writes_at_once(proxy: NetworkProxy) -> None:
    # With Nagle's algorithm on, every answer after a connection's first waited ~40 ms for a
    # delayed ACK between its headers and its body, and so did every small streamed chunk: the
    # "Remote API ~300 ms" preset cost ~345 ms a call. The proxy's connections must say NODELAY.
    with httpx.Client() as client:
        for _ in range(2):  # the second request reuses the kept-alive connection
            client.post(f"{proxy.base_url}/chat/completions", json={},
                        headers={"authorization": "Bearer not-a-route"})
        assert proxy._served is not None
        connections = list(proxy._served.server.server_state.connections)
        assert connections, "the kept-alive connection should still be open"
        for connection in connections:
            sock = connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_client_retries_through_the_rate_limit_and_every_call_finishes(
    proxy: NetworkProxy, local_settings: ModelSettings,
) -> None:
    # One slot, two calls at once: the second is refused (429, Retry-After: 1), waits, retries.
    # The upstream is the instant fake, so how long a slot is held never depends on CPU load.
    fake = FakeOpenAI("fake-key", reply="Hello there.").start()
    try:
        route = proxy.route(
            fake.base_url, "fake-key",
            NetworkConditions(max_concurrent=1, first_byte_latency_ms=300), scope="retries",
        )
        endpoint = Endpoint(
            provider=Provider.COMPATIBLE, base_url=route.base_url, model="fake-model",
            api_key=SecretStr(route.key), key_env_var="LAB_COMPAT_API_KEY",
        )
        llm = build_chat_model(local_settings.with_changes(max_retries=5), endpoint)
        answers = llm.batch(["Say hi.", "Say bye."], config={"max_concurrency": 2})
    finally:
        fake.stop()
    assert all(a.content for a in answers)
    assert proxy.stats("retries").rate_limited >= 1
    assert proxy.stats("retries").retries >= 1
