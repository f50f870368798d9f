"""Network conditions: what the proxy does to traffic (latency, limits, errors, stalls, cuts), and the presets.

A value the sidebar, the Compare columns and the fault tests build and compare; the proxy that
applies them is `core.network.proxy.NetworkProxy`. Pure: no server, no client.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class NetworkConditions:
    """What the proxy does to traffic. All defaults mean pass-through.

    Attributes:
        first_byte_latency_ms: wait before forwarding a request (network round trip, queueing).
        per_chunk_latency_ms: wait before each streamed chunk (SSE event) is passed on.
        max_concurrent: requests in flight at once; more get HTTP 429 with `Retry-After: 1`.
        requests_per_minute: requests accepted per sliding minute; more get HTTP 429 with
            `Retry-After` saying when a slot frees up.
        error_rate: fraction (0..1) of requests answered with HTTP 503 instead of forwarded.
        stall: accept the request and never answer (until the client times out).
        cut_stream_after_chunks: close the connection after this many chunks (SSE events; for a
            non-streamed answer, after half of the body).
        seed: seeds the random draws of `error_rate`, for repeatable demos and tests.

    Example:
        >>> NetworkConditions().is_passthrough
        True
        >>> NetworkConditions(max_concurrent=4).describe()
        '4 at once'
    """

    first_byte_latency_ms: float = 0
    per_chunk_latency_ms: float = 0
    max_concurrent: int | None = None
    requests_per_minute: int | None = None
    error_rate: float = 0.0
    stall: bool = False
    cut_stream_after_chunks: int | None = None
    seed: int | None = None

    @property
    def is_passthrough(self) -> bool:
        """True when the proxy would change nothing (the seed alone changes nothing)."""
        return all(
            getattr(self, f.name) == f.default for f in fields(self) if f.name != "seed"
        )

    def describe(self) -> str:
        """A short human summary, e.g. '300 ms first byte · 10% errors'.

        Example:
            >>> NetworkConditions(first_byte_latency_ms=300, error_rate=0.1).describe()
            '300 ms first byte · 10% errors'
        """
        parts: list[str] = []
        if self.first_byte_latency_ms:
            parts.append(f"{self.first_byte_latency_ms:g} ms first byte")
        if self.per_chunk_latency_ms:
            parts.append(f"{self.per_chunk_latency_ms:g} ms per chunk")
        if self.max_concurrent is not None:
            parts.append(f"{self.max_concurrent} at once")
        if self.requests_per_minute is not None:
            parts.append(f"{self.requests_per_minute}/min")
        if self.error_rate:
            parts.append(f"{self.error_rate:.0%} errors")
        if self.stall:
            parts.append("stalls")
        if self.cut_stream_after_chunks is not None:
            parts.append(f"cut after {self.cut_stream_after_chunks} chunks")
        return " · ".join(parts) or "pass-through"


PRESETS: dict[str, NetworkConditions] = {
    "Off": NetworkConditions(),
    # A hosted API seen from a laptop: the answer starts ~300 ms later; tokens then flow.
    "Remote API ~300 ms": NetworkConditions(first_byte_latency_ms=300),
    "Rate-limited: 4 at once": NetworkConditions(max_concurrent=4),
    "Flaky: 10% errors": NetworkConditions(error_rate=0.10),
    # Slow enough to read along: about 12 chunks a second after a half-second wait.
    "Slow stream": NetworkConditions(first_byte_latency_ms=500, per_chunk_latency_ms=80),
}


def preset_name(conditions: NetworkConditions) -> str | None:
    """The preset these conditions equal, if any.

    Example:
        >>> preset_name(NetworkConditions(error_rate=0.1))
        'Flaky: 10% errors'
    """
    for name, preset in PRESETS.items():
        if preset == conditions:
            return name
    return None
