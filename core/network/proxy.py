"""A network-conditions proxy: make any OpenAI-compatible backend slow, rate-limited or flaky.

Presenters want to show what a remote API feels like (latency, rate limits, errors) without the
internet, and the app must be tested against exactly those faults. `NetworkProxy` is a real HTTP
server (starlette's ASGI types served by uvicorn) on 127.0.0.1 that sits in front of any
OpenAI-compatible upstream — the embedded llama.cpp server or a remote one — and forwards
requests while applying `NetworkConditions`: latency before the first byte and per streamed
chunk, a concurrency and/or requests-per-minute limit answered with HTTP 429 + `Retry-After`,
injected 5xx errors, a stall past the client's timeout, and a stream cut after N chunks.

Keys: each *route* (one upstream + one set of conditions + one browser session) gets its own
random proxy key. The client sends that key; the proxy looks the route up by it and sends the
upstream's real key upstream. The real key is held in this process's memory only, and an unknown
key gets 401. Limits and counters belong to a route, so two browser sessions never share them.

The server runs on its own event loop in a daemon thread, so it serves Streamlit's script
threads, LangChain's worker threads and `asyncio.run` loops alike.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from core.network.conditions import NetworkConditions
from core.network.loopback import LoopbackServer, Receive, Scope, Send, serve_on_loopback
from core.security.keys import without_userinfo

if TYPE_CHECKING:  # loaded when the proxy starts: the first screen never needs it (~0.3 s)
    import httpx


PROXY_HEADER = "x-lab-network-proxy"
# Cutting a stream means returning from the ASGI app mid-response; uvicorn then closes the
# socket (what we want) and logs an error about it (noise in the app's terminal). We filter it.
_CUT_LOG_MESSAGE = "ASGI callable returned without completing response"
STALL_LIMIT_S = 3600.0  # a stall ends when the client gives up, or after an hour at most


@dataclass
class RouteStats:
    """What the proxy did on one route, for showing retries and injected faults.

    Attributes:
        requests: requests received (each retry is a request of its own).
        retries: requests the client marked as a retry (OpenAI's `x-stainless-retry-count`).
        forwarded: requests passed on to the upstream.
        rate_limited: answered 429 by the concurrency or per-minute limit.
        injected_errors: answered 503 by `error_rate`.
        stalled: held without an answer.
        cut: connections closed mid-answer.
        upstream_unreachable: upstream could not be reached (answered 502).
    """

    requests: int = 0
    retries: int = 0
    forwarded: int = 0
    rate_limited: int = 0
    injected_errors: int = 0
    stalled: int = 0
    cut: int = 0
    upstream_unreachable: int = 0

    def __add__(self, other: RouteStats) -> RouteStats:
        return RouteStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass
class ProxyRoute:
    """One upstream behind the proxy, under one set of conditions, for one scope (session).

    Attributes:
        key: the random key clients must send to use this route.
        base_url: the OpenAI-compatible base URL to give the client.
        upstream_base_url: where requests go, e.g. ``http://127.0.0.1:40123/v1``.
        conditions: what the proxy does to this route's traffic.
        scope: who owns the route (a browser session id); limits are never shared across scopes.
    """

    key: str = field(repr=False)
    base_url: str
    upstream_base_url: str
    upstream_key: str = field(repr=False)
    conditions: NetworkConditions
    scope: str
    stats: RouteStats = field(default_factory=RouteStats)
    in_flight: int = 0
    accepted_at: collections.deque[float] = field(default_factory=collections.deque, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)
    last_used: float = field(default_factory=time.monotonic, repr=False)
    # A recorder (`core.network.recording.Recording.tap`): gets each finished exchange, see `ExchangeTap`.
    tap: ExchangeTap | None = field(default=None, repr=False)


#: tap(request body, status, content type, [(seconds since sent upstream, bytes)], streamed):
#: called once per answer the upstream finished sending (not for cut or abandoned ones).
ExchangeTap = Callable[[bytes, int, str, list[tuple[float, bytes]], bool], None]
_log = logging.getLogger(__name__)


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _CUT_LOG_MESSAGE not in record.getMessage()


def _error_body(message: str, kind: str, code: str) -> bytes:
    # OpenAI's error shape, so the openai client puts `message` into the exception it raises.
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


_HOP_HEADERS = {
    "host", "authorization", "content-length", "connection", "keep-alive", "transfer-encoding",
    "accept-encoding", "content-encoding", "proxy-authorization", "te", "upgrade", "trailer",
}


class NetworkProxy:
    """The proxy server. Start one with `start_network_proxy()`; add routes with `route()`.

    Example (starts a real server, so not a doctest)::

        proxy = start_network_proxy()
        route = proxy.route(server.base_url, server.api_key, PRESETS["Slow stream"], scope="me")
        llm = ChatOpenAI(base_url=route.base_url, api_key=route.key, model=server.model_name)
    """

    MAX_ROUTES = 512  # least recently used routes beyond this are forgotten

    def __init__(self) -> None:
        self._routes: dict[str, ProxyRoute] = {}
        self._by_identity: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None
        self._served: LoopbackServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port: int = 0

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL of the proxy (every route shares it)."""
        return f"{self.origin}/v1"

    @property
    def running(self) -> bool:
        return self._served is not None and self._served.thread.is_alive()

    def start(self, timeout_s: float = 10.0) -> NetworkProxy:
        """Bind a free loopback port and serve in a background thread; return once listening."""
        import httpx

        cut_logger = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _QuietCuts) for f in cut_logger.filters):
            cut_logger.addFilter(_QuietCuts())

        def open_client(loop: asyncio.AbstractEventLoop) -> None:
            self._loop = loop
            # No read timeout upstream: the client enforces its own, and a stall must last.
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(None, connect=10.0),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
                trust_env=False,  # never route loopback traffic through an HTTP(S)_PROXY
            )

        async def close_client() -> None:
            if self._client is not None:
                await self._client.aclose()

        self._served = serve_on_loopback(
            self._app, name="lab-network-proxy", timeout_s=timeout_s,
            on_loop_start=open_client, on_loop_end=close_client,
        )
        self.port = self._served.port
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._served is not None:
            self._served.stop()
            self._served = None

    # --- routes ----------------------------------------------------------------------------

    def route(
        self,
        upstream_base_url: str,
        upstream_key: str,
        conditions: NetworkConditions,
        *,
        scope: str = "default",
        tap: ExchangeTap | None = None,
    ) -> ProxyRoute:
        """The route for this upstream, conditions and scope; the same one on every call.

        Reusing the route keeps its limits: a session's rate limit counts all its calls.
        `tap` records every finished exchange (`core.network.replay`); a route with a tap is its own.
        """
        identity = (scope, upstream_base_url.rstrip("/"), upstream_key, conditions, tap)
        with self._lock:
            key = self._by_identity.get(identity)
            if key is not None and key in self._routes:
                found = self._routes[key]
                found.last_used = time.monotonic()
                return found
            key = "netem-" + secrets.token_urlsafe(24)
            made = ProxyRoute(
                key=key,
                base_url=self.base_url,
                upstream_base_url=upstream_base_url.rstrip("/"),
                upstream_key=upstream_key,
                conditions=conditions,
                scope=scope,
                rng=random.Random(conditions.seed),
                tap=tap,
            )
            self._routes[key] = made
            self._by_identity[identity] = key
            self._forget_old_routes()
            return made

    def _forget_old_routes(self) -> None:
        if len(self._routes) <= self.MAX_ROUTES:
            return
        idle = sorted(
            (r for r in self._routes.values() if r.in_flight == 0), key=lambda r: r.last_used
        )
        for old in idle[: len(self._routes) - self.MAX_ROUTES]:
            del self._routes[old.key]
        self._by_identity = {k: v for k, v in self._by_identity.items() if v in self._routes}

    def stats(self, scope: str) -> RouteStats:
        """Everything the proxy did for one scope (browser session), over all its routes."""
        total = RouteStats()
        with self._lock:
            for r in self._routes.values():
                if r.scope == scope:
                    total = total + r.stats
        return total

    def _lookup(self, headers: dict[str, str]) -> ProxyRoute | None:
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            found = self._routes.get(key) if key else None
            if found is not None:
                found.last_used = time.monotonic()
            return found

    # --- the ASGI application --------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        route = self._lookup(headers)
        if route is None:
            await _respond(
                send, 401,
                _error_body(
                    "Incorrect API key for the lab's network proxy.",
                    "invalid_request_error", "invalid_api_key",
                ),
            )
            return
        body = await _read_body(receive)
        disconnected = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, disconnected))
        try:
            await self._handle(route, scope, headers, body, send, disconnected)
        finally:
            watcher.cancel()

    async def _handle(
        self,
        route: ProxyRoute,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        send: Send,
        disconnected: asyncio.Event,
    ) -> None:
        c = route.conditions
        route.stats.requests += 1
        if headers.get("x-stainless-retry-count", "0") not in ("", "0"):
            route.stats.retries += 1

        # Limits first, as a real gateway does: a refused request costs no upstream work.
        refusal = self._limit_refusal(route)
        if refusal is not None:
            route.stats.rate_limited += 1
            message, retry_after = refusal
            await _respond(
                send, 429, _error_body(message, "rate_limit_error", "rate_limit_exceeded"),
                extra_headers=[(b"retry-after", str(retry_after).encode()), (b"x-lab-proxy-refused", b"429")],
            )
            return

        route.in_flight += 1
        route.accepted_at.append(time.monotonic())
        held_ms = 0.0
        try:
            if c.first_byte_latency_ms:
                held_from = time.perf_counter()
                await _sleep_unless(disconnected, c.first_byte_latency_ms / 1000)
                held_ms = (time.perf_counter() - held_from) * 1000.0
                if disconnected.is_set():
                    return
            if c.error_rate and route.rng.random() < c.error_rate:
                route.stats.injected_errors += 1
                await _respond(
                    send, 503,
                    _error_body(
                        f"Service unavailable: the lab's network proxy injected this error "
                        f"({c.error_rate:.0%} of requests fail).",
                        "server_error", "service_unavailable",
                    ),
                    extra_headers=[(b"x-lab-proxy-refused", b"503"), *_report(held_ms, 0.0)],
                )
                return
            if c.stall:
                route.stats.stalled += 1
                # Hold the request open without a byte until the client gives up.
                await _sleep_unless(disconnected, STALL_LIMIT_S)
                return
            await self._forward(route, scope, headers, body, send, disconnected, held_ms)
        finally:
            route.in_flight -= 1

    def _limit_refusal(self, route: ProxyRoute) -> tuple[str, int] | None:
        c = route.conditions
        if c.requests_per_minute is not None:
            now = time.monotonic()
            while route.accepted_at and now - route.accepted_at[0] >= 60.0:
                route.accepted_at.popleft()
            if len(route.accepted_at) >= c.requests_per_minute:
                wait = max(1, math.ceil(60.0 - (now - route.accepted_at[0])))
                return (
                    f"Rate limit reached: {c.requests_per_minute} requests per minute "
                    f"(the lab's network proxy). Try again in {wait} s.",
                    wait,
                )
        else:
            route.accepted_at.clear()
        if c.max_concurrent is not None and route.in_flight >= c.max_concurrent:
            return (
                f"Rate limit reached: at most {c.max_concurrent} requests at once "
                "(the lab's network proxy). Try again in 1 s.",
                1,
            )
        return None

    async def _forward(
        self,
        route: ProxyRoute,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        send: Send,
        disconnected: asyncio.Event,
        held_ms: float = 0.0,
    ) -> None:
        assert self._client is not None
        c = route.conditions
        path = scope["path"]
        path = path[3:] if path.startswith("/v1") else path
        url = route.upstream_base_url + path
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        out_headers = {
            k: v for k, v in headers.items() if k not in _HOP_HEADERS and not k.startswith("x-lab")
        }
        out_headers["accept-encoding"] = "identity"  # bytes pass through as-is, SSE stays splittable
        if route.upstream_key:
            out_headers["authorization"] = f"Bearer {route.upstream_key}"
        import httpx  # loaded by start() already: a dictionary look-up

        request = self._client.build_request(scope["method"], url, headers=out_headers, content=body)
        sent_at = time.perf_counter()  # a recording's offsets count from here
        taped: list[tuple[float, bytes]] = []
        try:
            upstream = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            route.stats.upstream_unreachable += 1
            await _respond(
                send, 502,
                _error_body(
                    f"Bad gateway: the lab's network proxy could not reach the upstream "
                    f"{without_userinfo(route.upstream_base_url)} ({type(exc).__name__}: {str(exc) or 'no answer'}).",
                    "server_error", "upstream_unreachable",
                ),
            )
            return
        route.stats.forwarded += 1
        try:
            resp_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in upstream.headers.items()
                if k.lower() not in _HOP_HEADERS
            ] + [(PROXY_HEADER.encode(), b"netem"), *_report(held_ms, c.per_chunk_latency_ms)]
            is_sse = upstream.headers.get("content-type", "").startswith("text/event-stream")
            if not is_sse:
                payload = await upstream.aread()
                if c.cut_stream_after_chunks is not None and upstream.status_code < 400:
                    # A non-streamed answer is one chunk: the cut happens half way through it.
                    await send({"type": "http.response.start", "status": upstream.status_code,
                                "headers": [*resp_headers, (b"content-length", str(len(payload)).encode())]})
                    await send({"type": "http.response.body", "body": payload[: len(payload) // 2],
                                "more_body": True})
                    route.stats.cut += 1
                    return  # uvicorn closes the socket: the client sees an incomplete body
                await send({"type": "http.response.start", "status": upstream.status_code,
                            "headers": [*resp_headers, (b"content-length", str(len(payload)).encode())]})
                # Recorded before the answer is handed on: once the client has it, it may replay.
                _tap(route, body, upstream, [(time.perf_counter() - sent_at, payload)], streamed=False)
                await send({"type": "http.response.body", "body": payload, "more_body": False})
                return
            await send({"type": "http.response.start", "status": upstream.status_code,
                        "headers": resp_headers})
            chunks = 0
            async for event in _sse_events(upstream):
                if route.tap is not None:  # stamped on arrival, before any simulated delay
                    taped.append((time.perf_counter() - sent_at, event))
                if disconnected.is_set():
                    return  # the client left: stop reading, so the upstream stops generating
                if c.cut_stream_after_chunks is not None and chunks >= c.cut_stream_after_chunks:
                    route.stats.cut += 1
                    return  # close mid-stream, without the terminating chunk
                if c.per_chunk_latency_ms:
                    await _sleep_unless(disconnected, c.per_chunk_latency_ms / 1000)
                await send({"type": "http.response.body", "body": event, "more_body": True})
                chunks += 1
            _tap(route, body, upstream, taped, streamed=True)  # before the end: see above
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await upstream.aclose()


def _tap(route: ProxyRoute, body: bytes, upstream: httpx.Response,
         chunks: list[tuple[float, bytes]], *, streamed: bool) -> None:
    """Hand a finished exchange to the route's recorder; a recorder fault never fails the call."""
    if route.tap is None:
        return
    try:
        route.tap(body, upstream.status_code, upstream.headers.get("content-type", ""), chunks, streamed)
    except Exception:  # the answer was already delivered: log, never break the live call
        _log.exception("recording an exchange failed")


async def _sse_events(response: httpx.Response) -> Any:
    """Yield whole server-sent events (each ending in a blank line) as they arrive.

    A socket read may hold several events or part of one; per-chunk latency and cuts must
    apply to events, so bytes are regrouped at event boundaries.
    """
    buffer = b""
    async for data in response.aiter_raw():
        buffer += data
        while True:
            ends = [i for i in (buffer.find(b"\n\n"), buffer.find(b"\r\n\r\n")) if i >= 0]
            if not ends:
                break
            end = min(ends)
            size = 4 if buffer.startswith(b"\r\n\r\n", end) else 2
            yield buffer[: end + size]
            buffer = buffer[end + size:]
    if buffer:
        yield buffer


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _watch_disconnect(receive: Receive, disconnected: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            disconnected.set()
            return


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake early if the client disconnects."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)


def _report(held_ms: float, chunk_delay_ms: float) -> list[tuple[bytes, bytes]]:
    """The proxy's own account of the waits it injected, as response headers.

    The lab's traced HTTP client reads them (`core.call.trace.ProxyReport`), so a call's waterfall
    shows the simulated latency as the proxy's, measured by the proxy, not guessed.
    """
    return [
        (b"x-lab-proxy-held-ms", f"{held_ms:.3f}".encode()),
        (b"x-lab-proxy-chunk-delay-ms", f"{chunk_delay_ms:g}".encode()),
    ]


async def _respond(
    send: Send, status: int, body: bytes, *, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (PROXY_HEADER.encode(), b"netem"),
    ] + (extra_headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def start_network_proxy() -> NetworkProxy:
    """Start a `NetworkProxy` on a free 127.0.0.1 port and return it, listening."""
    return NetworkProxy().start()
