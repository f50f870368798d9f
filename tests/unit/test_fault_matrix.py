"""The fault matrix: every network fault × every pattern's real runner.

Each fault is produced for real — the lab's proxy in front of the embedded llama.cpp server
(or a tiny fake OpenAI-compatible server, for what the real one never gives: an unknown-model
404, an HTML page with status 200, a completion without choices, a stream line that is not JSON,
a stream that stops without a finish reason), or a closed port — and each call goes through
`ChatOpenAI` and the runner a page uses: `StreamCapture` (Streaming, Metadata & cost),
`timed_invoke` (Metadata & cost, stream vs. wait), the batch job runner (Batch), the async modes
(Async: ainvoke + gather and astream) and the events recorder (Streaming events). What is
asserted is what the user sees: the kind of problem, the words naming the cause and the fix, the
retries made, and that whatever had arrived is kept.
"""

from __future__ import annotations

import socket

from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.network.conditions import NetworkConditions
from core.network.proxy import NetworkProxy
from core.patterns.streaming import timed_invoke
from core.settings import ModelSettings, Provider

PROMPT = "Count from one to ten."


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # free once the socket closes: nothing listens


def test_via_the_proxy_an_unreachable_upstream_reads_as_connection_refused(
    proxy: NetworkProxy, local_settings: ModelSettings,
) -> None:
    route = proxy.route(f"http://127.0.0.1:{_closed_port()}/v1", "k", NetworkConditions(first_byte_latency_ms=1), scope="gone")
    endpoint = Endpoint(Provider.COMPATIBLE, route.base_url, "m", SecretStr(route.key), "LAB_COMPAT_API_KEY")
    record = timed_invoke(build_chat_model(local_settings.with_changes(max_retries=0), endpoint), PROMPT)
    assert record.error is not None and record.error.kind == "connection"
    assert "base URL" in record.error.fix and "ConnectError" in record.error.detail
