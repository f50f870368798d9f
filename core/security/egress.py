"""Which Base URLs a visitor may call when the lab is served beyond this machine.

On a lab bound to loopback (`make run`, the default), only the person at this machine uses it
and may call whatever they like. Served on another address (`make run HOST=0.0.0.0`), anyone who
reaches it can type a Base URL, and the lab's server then makes the request from inside the
host's network: `http://169.254.169.254/…` (a cloud metadata service), `http://10.0.0.5:…` or
`http://127.0.0.1:…` would be read by the lab on the visitor's behalf. So a shared lab refuses a
Base URL whose host resolves to a loopback, private, link-local or otherwise non-public address,
except the endpoints its operator configured (`LAB_COMPAT_BASE_URL`, the embedded model, the
lab's own proxy and replay servers).

The check resolves the name when the settings are checked; a name that resolves differently a
moment later (DNS rebinding) is not caught here. The HTTP clients also never follow redirects
(`core.call.tracing`), so a public URL cannot bounce a request to a private one.

Pure apart from name resolution, which is passed in (tests give their own).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

from core.embedded_server import EmbeddedModelUnavailable
from core.security.keys import origin, same_origin

Resolver = Callable[[str, int], list[str]]


class RefusedBaseUrl(EmbeddedModelUnavailable):
    """A shared lab will not call this Base URL (`refused_base_url` says why).

    A kind of `EmbeddedModelUnavailable` so that every place that explains "there is no endpoint
    to call now" explains this one too, instead of showing a traceback.
    """


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (empty when it does not resolve)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except (OSError, UnicodeError):
        return []


def is_loopback_bind(address: str | None) -> bool:
    """Whether a server bound to `address` is reachable from this machine only.

    Streamlit listens on every interface when `server.address` is unset.

    Example:
        >>> [is_loopback_bind(a) for a in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "", None, "192.168.1.4")]
        [True, True, True, False, False, False, False]
    """
    value = (address or "").strip().strip("[]").lower()
    if value == "localhost":
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def _internal(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return not ip.is_global or ip.is_multicast


def refused_base_url(
    url: str, *, shared: bool, allowed: Sequence[str], resolve: Resolver = resolve_host
) -> str | None:
    """Why a shared lab refuses to call `url`, or None when it may.

    Example:
        >>> fake_dns = lambda host, port: {"metadata.internal": ["169.254.169.254"]}.get(host, ["93.184.215.14"])
        >>> refused_base_url("http://metadata.internal/latest", shared=True, allowed=[], resolve=fake_dns)[:60]
        'This lab is served beyond this machine, so it does not call '
        >>> refused_base_url("http://metadata.internal/latest", shared=False, allowed=[], resolve=fake_dns) is None
        True
        >>> refused_base_url("https://api.example.com/v1", shared=True, allowed=[], resolve=fake_dns) is None
        True
    """
    if not shared or any(same_origin(url, ok) for ok in allowed if ok):
        return None
    found = origin(url)
    if found is None:
        return None  # not a URL at all: `core.settings.validate` says so
    _, host, port = found
    internal = [a for a in resolve(host, port) if _internal(a)]
    if not internal:
        return None
    return (
        f"This lab is served beyond this machine, so it does not call {host} (it resolves to "
        f"{', '.join(internal[:3])}, an address inside this machine or its network): a visitor "
        "could read internal services through it. Use a public endpoint, or have the operator "
        "configure this one in .env (LAB_COMPAT_BASE_URL) or serve the lab on 127.0.0.1."
    )
