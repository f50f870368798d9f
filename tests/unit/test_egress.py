"""A lab served beyond loopback refuses Base URLs that resolve inside the host's network."""

from __future__ import annotations

import pytest

from core.security.egress import is_loopback_bind, refused_base_url

DNS = {
    "metadata.google.internal": ["169.254.169.254"],
    "intranet.corp": ["10.1.2.3"],
    "mixed.example": ["93.184.215.14", "192.168.1.9"],
    "public.example": ["93.184.215.14"],
    "v6-mapped.example": ["::ffff:169.254.169.254"],
}


def _dns(host: str, port: int) -> list[str]:
    return DNS.get(host, [host])  # an IP literal resolves to itself


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://intranet.corp:8080/v1",
    "http://mixed.example/v1",
    "http://127.0.0.1:11434/v1",
    "http://[::1]:8000/v1",
    "http://[fe80::1]:8000/v1",
    "http://v6-mapped.example/v1",
    "http://0.0.0.0:8000/v1",
])
def test_a_shared_lab_refuses_internal_addresses(url: str) -> None:
    refusal = refused_base_url(url, shared=True, allowed=[], resolve=_dns)
    assert refusal is not None and "served beyond this machine" in refusal


def test_a_shared_lab_calls_public_hosts_and_the_configured_endpoints() -> None:
    assert refused_base_url("https://public.example/v1", shared=True, allowed=[], resolve=_dns) is None
    configured = ["http://intranet.corp:8080/v1", "http://127.0.0.1:40123/v1"]
    assert refused_base_url("http://intranet.corp:8080/other", shared=True, allowed=configured, resolve=_dns) is None
    assert refused_base_url("http://127.0.0.1:40123/v1", shared=True, allowed=configured, resolve=_dns) is None
    # Another port on the same internal host is not the configured endpoint.
    assert refused_base_url("http://intranet.corp:22/v1", shared=True, allowed=configured, resolve=_dns)


def test_on_loopback_the_person_at_this_machine_may_call_anything() -> None:
    assert refused_base_url("http://169.254.169.254/", shared=False, allowed=[], resolve=_dns) is None


def test_which_bind_addresses_are_loopback() -> None:
    assert is_loopback_bind("127.0.0.1") and is_loopback_bind("localhost") and is_loopback_bind("::1")
    for shared in (None, "", "0.0.0.0", "::", "192.168.1.4", "lab.example"):
        assert not is_loopback_bind(shared)
