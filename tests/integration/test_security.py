"""Keys never leak, and the lab's servers listen on loopback only.

The planted key is deliberately not shaped like an OpenAI key (no "sk-" prefix), so it can only
be removed by knowing the secret, not by the pattern that catches keys in general.
"""

from __future__ import annotations

import socket

import pytest

from core.embedded_server import EmbeddedModelServer
from core.network.proxy import NetworkProxy


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))  # picks a route; sends nothing
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_embedded_server_and_proxy_are_unreachable_from_other_addresses(
    embedded_server: EmbeddedModelServer, proxy: NetworkProxy,
) -> None:
    other = _non_loopback_address()
    if other is None:
        pytest.skip("this machine has no non-loopback address to try")
    for port in (embedded_server.port, proxy.port):
        with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
            pass
