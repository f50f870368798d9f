"""Replay recorded answers offline at the recorded pace: an OpenAI-compatible server on 127.0.0.1.

`ReplayServer` is a small OpenAI-compatible HTTP server on 127.0.0.1. A route (one recording
(`core.network.recording`) at one speed, its own random key) answers each recorded request with the
recorded status, content type and events, each sent at its recorded offset ÷ speed. So
`ChatOpenAI`, streaming, events, usage and timing go through exactly the code a live call does.
A request not in the recording gets HTTP 404 whose message lists what is recorded.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from core.network.loopback import LoopbackServer, Receive, Scope, Send, serve_on_loopback
from core.network.recording import REPLAY_HEADER, Exchange, Recording, request_fields

# --- the replay server ---------------------------------------------------------------------------


@dataclass
class ReplayRoute:
    """One recording served at one speed, behind its own random key."""

    key: str = field(repr=False)
    recording: Recording
    speed: float
    last_used: float = field(default_factory=time.monotonic, repr=False)
    in_flight: int = field(default=0, repr=False)


class ReplayServer:
    """An OpenAI-compatible server on 127.0.0.1 that answers from recordings.

    Example (starts a real server, so not a doctest)::

        server = ReplayServer().start()
        route = server.route(recording, speed=1.0)
        llm = ChatOpenAI(base_url=server.base_url, api_key=route.key, model=recording.model)
    """

    #: Routes kept; the least recently used idle ones beyond this are forgotten (each holds its
    #: recording, and every version of a file being recorded is a recording of its own).
    MAX_ROUTES = 64

    def __init__(self) -> None:
        self._routes: dict[str, ReplayRoute] = {}
        self._by_identity: dict[tuple[int, float], str] = {}
        self._lock = threading.Lock()
        self._served: LoopbackServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 10.0) -> ReplayServer:
        self._served = serve_on_loopback(self._app, name="lab-replay-server", timeout_s=timeout_s)
        self.port = self._served.port
        return self

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()
            self._served = None

    def route(self, recording: Recording, speed: float = 1.0) -> ReplayRoute:
        """The route serving `recording` at `speed` (the same one on every call)."""
        identity = (id(recording), speed)
        with self._lock:
            key = self._by_identity.get(identity)
            if key is not None:
                found = self._routes[key]
                found.last_used = time.monotonic()
                return found
            key = "replay-" + secrets.token_urlsafe(18)
            made = self._routes[key] = ReplayRoute(key, recording, speed)
            self._by_identity[identity] = key
            self._forget_old_routes()
            return made

    def _forget_old_routes(self) -> None:
        """Drop the least recently used routes beyond `MAX_ROUTES`, never one serving a request.

        A session asks for its route on every script run, so a route it still uses is recent;
        its identity goes with it (a recording's `id` may be reused once it is freed).
        """
        if len(self._routes) <= self.MAX_ROUTES:
            return
        idle = sorted((r for r in self._routes.values() if r.in_flight == 0), key=lambda r: r.last_used)
        for old in idle[: len(self._routes) - self.MAX_ROUTES]:
            del self._routes[old.key]
        self._by_identity = {k: v for k, v in self._by_identity.items() if v in self._routes}

    def __len__(self) -> int:
        with self._lock:
            return len(self._routes)

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            route = self._routes.get(key)
            if route is not None:
                route.last_used = time.monotonic()
                route.in_flight += 1
        try:
            await self._answer(scope, receive, send, route)
        finally:
            if route is not None:
                with self._lock:
                    route.in_flight -= 1

    async def _answer(self, scope: Scope, receive: Receive, send: Send, route: ReplayRoute | None) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        received = time.perf_counter()
        if route is None:
            await _json(send, 401, _error("Incorrect API key for the lab's replay server.", "invalid_api_key"))
            return
        if scope["method"] == "GET" and scope["path"].rstrip("/").endswith("/models"):
            await _json(send, 200, json.dumps({"object": "list", "data": [
                {"id": route.recording.model, "object": "model", "owned_by": "recording"}]}).encode())
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        exchange = route.recording.find(request) if isinstance(request, dict) else None
        if exchange is None:
            listing = route.recording.listing()
            shown = "; ".join(f"({n}) {line}" for n, line in enumerate(listing[:12], 1))
            more = f"; and {len(listing) - 12} more" if len(listing) > 12 else ""
            asked = Exchange("", request_fields(request) if isinstance(request, dict) else {},
                             0, "", bool(request.get("stream")) if isinstance(request, dict) else False,
                             (), None, None, "").describe()
            await _json(send, 404, _error(
                f"Not in the recording {route.recording.title!r}: this request ({asked}) was not "
                f"recorded. Recorded: {shown or 'nothing'}{more}. Ask exactly one of these (same "
                "prompt and generation settings), or record this one with the endpoint reachable.",
                "not_recorded",
            ))
            return
        await send({"type": "http.response.start", "status": exchange.status, "headers": [
            (b"content-type", exchange.content_type.encode("latin-1")),
            (REPLAY_HEADER.encode(), b"1"),
        ]})
        for chunk in exchange.chunks:
            if route.speed > 0:
                wait = received + chunk.at_s / route.speed - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            await send({"type": "http.response.body", "body": chunk.data.encode("utf-8"), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _error(message: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}}).encode()


async def _json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (REPLAY_HEADER.encode(), b"1"),
    ]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
