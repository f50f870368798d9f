"""Record a (hosted) endpoint's answers, and replay them offline at the recorded pace.

Recording: the lab's network proxy (`core.netem`) forwards every call event by event; a route
made with ``tap=recording.tap`` hands each finished exchange here — the request body, and every
SSE event with its arrival offset from the moment the proxy sent the request upstream. The
recording keys it by what changes the answer (`ANSWER_PARAMS`: messages, model, temperature,
max tokens, seed, ...) and writes the file after every exchange, so nothing recorded is lost.
No header is kept: no key, no Authorization.

Replay: `ReplayServer` is a small OpenAI-compatible HTTP server on 127.0.0.1. A route (one
recording at one speed, its own random key) answers each recorded request with the recorded
status, content type and events, each sent at its recorded offset ÷ speed. So `ChatOpenAI`,
streaming, events, usage and timing go through exactly the code a live call does. A request
not in the recording gets HTTP 404 whose message lists what is recorded.

File format (JSON, versioned by `FORMAT_VERSION`)::

    {"format": "execution-patterns-lab/recording", "version": 1, "model": "gpt-4o-mini",
     "recorded_at": "2026-12-01T21:50:00+00:00", "upstream": "https://api.openai.com/v1",
     "exchanges": [{"key": "…sha256…", "request": {…the answer-changing fields…},
                    "status": 200, "content_type": "text/event-stream", "streamed": true,
                    "chunks": [{"at_s": 0.312, "data": "data: {…}\\n\\n"}, …],
                    "usage": {…} | null, "finish_reason": "stop" | null, "text": "…"}]}
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.netem import LoopbackServer, Receive, Scope, Send, serve_on_loopback

FORMAT = "execution-patterns-lab/recording"
FORMAT_VERSION = 1
RECORDINGS_DIR = "recordings"
REPLAY_HEADER = "x-lab-replay"

#: Request fields that change the answer: two requests equal on these get the same recording.
ANSWER_PARAMS = (
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed",
    "stop", "n", "tools", "tool_choice", "response_format", "frequency_penalty",
    "presence_penalty", "logit_bias", "logprobs", "top_logprobs", "reasoning_effort", "stream",
    "stream_options", "parallel_tool_calls",
)

#: Replay speeds offered: 1× is the recorded pace; 0 means instant (no waits at all).
SPEEDS: dict[str, float] = {"1× (as recorded)": 1.0, "0.5× (slower)": 0.5, "2× (faster)": 2.0, "instant": 0.0}


class RecordingError(ValueError):
    """A recording file that cannot be used; the message says why and what to do."""


def request_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The answer-changing fields of a chat-completions request body.

    Example:
        >>> request_fields({"model": "m", "messages": [], "user": "x", "temperature": 0})
        {'model': 'm', 'messages': [], 'temperature': 0}
    """
    return {k: body[k] for k in ANSWER_PARAMS if k in body}


def request_key(body: Mapping[str, Any]) -> str:
    """A stable key for a request: the SHA-256 of its answer-changing fields, canonical JSON.

    Example:
        >>> request_key({"model": "m", "messages": [], "user": "a"}) == request_key(
        ...     {"messages": [], "model": "m", "user": "b"})
        True
    """
    canonical = json.dumps(request_fields(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RecordedChunk:
    """One piece of an answer as it arrived: an SSE event, or a whole non-streamed body.

    Attributes:
        at_s: seconds from the request being sent upstream to this piece arriving.
        data: the bytes as text (UTF-8), exactly as the endpoint sent them.
    """

    at_s: float
    data: str


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its answer."""

    key: str
    request: dict[str, Any]
    status: int
    content_type: str
    streamed: bool
    chunks: tuple[RecordedChunk, ...]
    usage: dict[str, Any] | None
    finish_reason: str | None
    text: str

    def text_offsets(self) -> list[float]:
        """Arrival offsets of the chunks that carried answer text (what a reader sees appear)."""
        return [c.at_s for c in self.chunks if _answer_facts((c,), self.streamed)[2]]

    def describe(self) -> str:
        """One line naming the request, for the "not recorded" message and the sidebar.

        Example:
            >>> Exchange("k", {"model": "m", "messages": [{"role": "user", "content": "Hi"}],
            ...          "max_tokens": 8, "stream": True}, 200, "", True, (), None, None, "").describe()
            "m · 'Hi' · max_tokens=8 · stream"
        """
        messages = self.request.get("messages") or []
        last = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else ""
        if isinstance(last, list):  # content parts
            last = " ".join(str(p.get("text", "")) for p in last if isinstance(p, dict))
        prompt = str(last or "")
        prompt = prompt if len(prompt) <= 60 else prompt[:57] + "…"
        parts = [str(self.request.get("model", "?")), repr(prompt)]
        for name in ("temperature", "max_tokens", "max_completion_tokens", "seed"):
            if name in self.request:
                parts.append(f"{name}={self.request[name]}")
        parts.append("stream" if self.request.get("stream") else "invoke")
        return " · ".join(parts)


def exchange_from_traffic(
    request_body: bytes, status: int, content_type: str, chunks: list[tuple[float, bytes]], streamed: bool
) -> Exchange | None:
    """Build an `Exchange` from what the proxy saw; None for a body that is not a JSON request."""
    try:
        body = json.loads(request_body or b"{}")
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    recorded = tuple(RecordedChunk(round(at, 6), data.decode("utf-8", "replace")) for at, data in chunks)
    usage, finish, text = _answer_facts(recorded, streamed)
    return Exchange(
        key=request_key(body), request=request_fields(body), status=status,
        content_type=content_type, streamed=streamed, chunks=recorded,
        usage=usage, finish_reason=finish, text=text,
    )


def _answer_facts(chunks: tuple[RecordedChunk, ...], streamed: bool) -> tuple[dict[str, Any] | None, str | None, str]:
    """Usage, finish reason and text of a recorded answer (for summaries and tests)."""
    usage: dict[str, Any] | None = None
    finish: str | None = None
    text: list[str] = []
    payloads: list[Any] = []
    if streamed:
        for chunk in chunks:
            for line in chunk.data.splitlines():
                if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                    try:
                        payloads.append(json.loads(line[5:]))
                    except ValueError:
                        continue
    else:
        with contextlib.suppress(ValueError):
            payloads.append(json.loads("".join(c.data for c in chunks)))
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        usage = payload.get("usage") or usage
        for choice in payload.get("choices") or []:
            finish = choice.get("finish_reason") or finish
            part = (choice.get("delta") or choice.get("message") or {}).get("content")
            if part:
                text.append(str(part))
    return usage, finish, "".join(text)


@dataclass
class Recording:
    """A recording: the exchanges of one endpoint, saved to `path` after each one.

    Attributes:
        model: the model recorded (the first request's, or the one given).
        upstream: the recorded endpoint's base URL (never its key).
        recorded_at: when recording began (UTC).
        path: where it is saved; None keeps it in memory only.
    """

    model: str
    upstream: str
    recorded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    path: Path | None = None
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def title(self) -> str:
        """'Replay: gpt-4o-mini, recorded 2026-12-01 21:50 UTC' — what the sidebar offers."""
        return f"Replay: {self.model}, recorded {self.recorded_at:%Y-%m-%d %H:%M} UTC"

    def tap(self, request_body: bytes, status: int, content_type: str,
            chunks: list[tuple[float, bytes]], streamed: bool) -> None:
        """The proxy's recording hook: keep one finished exchange (successful answers only)."""
        if status >= 400:
            return
        exchange = exchange_from_traffic(request_body, status, content_type, chunks, streamed)
        if exchange is None:
            return
        with self._lock:
            self.exchanges[exchange.key] = exchange
            if self.path is not None:
                save_recording(self, self.path)

    def find(self, body: Mapping[str, Any]) -> Exchange | None:
        with self._lock:
            return self.exchanges.get(request_key(body))

    def listing(self) -> list[str]:
        """What is recorded, one line per exchange."""
        with self._lock:
            return [e.describe() for e in self.exchanges.values()]

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            exchanges = list(self.exchanges.values())
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": self.model,
            "upstream": self.upstream,
            "recorded_at": self.recorded_at.isoformat(),
            "exchanges": [
                {
                    "key": e.key, "request": e.request, "status": e.status,
                    "content_type": e.content_type, "streamed": e.streamed,
                    "chunks": [{"at_s": c.at_s, "data": c.data} for c in e.chunks],
                    "usage": e.usage, "finish_reason": e.finish_reason, "text": e.text,
                }
                for e in exchanges
            ],
        }


def recording_to_bytes(recording: Recording) -> bytes:
    """The recording as the file's bytes (for saving and the export button)."""
    return json.dumps(recording.to_json(), indent=1, ensure_ascii=False).encode("utf-8")


def save_recording(recording: Recording, path: Path) -> None:
    """Write the file atomically: a crash mid-write leaves the previous version, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(recording_to_bytes(recording))
    temporary.replace(path)


def recording_from_bytes(data: bytes, *, path: Path | None = None, name: str = "the file") -> Recording:
    """Read a recording file, or raise `RecordingError` saying what is wrong with it.

    Example:
        >>> recording_from_bytes(b'{"format": "execution-patterns-lab/recording", "vers')
        Traceback (most recent call last):
        ...
        core.replay.RecordingError: the file is not a complete recording: it ends early or is not JSON (line 1, column 48). It may have been cut off while copying; export it again.
    """
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise RecordingError(
            f"{name} is not a complete recording: it ends early or is not JSON{where}. It may "
            "have been cut off while copying; export it again."
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise RecordingError(
            f"{name} is not a recording made by the Execution Patterns Lab (no "
            f"\"format\": \"{FORMAT}\" in it). Choose a file exported with \"Export recording\"."
        )
    version = raw.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RecordingError(
            f"{name} was made by a newer version of the lab (recording format {version}; this "
            f"one reads format {FORMAT_VERSION} and older). Update the app to replay it."
        )
    try:
        exchanges = {}
        for e in raw["exchanges"]:
            chunks = tuple(RecordedChunk(float(c["at_s"]), str(c["data"])) for c in e["chunks"])
            exchange = Exchange(
                key=str(e["key"]), request=dict(e["request"]), status=int(e["status"]),
                content_type=str(e["content_type"]), streamed=bool(e["streamed"]), chunks=chunks,
                usage=e.get("usage"), finish_reason=e.get("finish_reason"), text=str(e.get("text", "")),
            )
            exchanges[exchange.key] = exchange
        return Recording(
            model=str(raw["model"]), upstream=str(raw.get("upstream", "")),
            recorded_at=dt.datetime.fromisoformat(raw["recorded_at"]), path=path,
            exchanges=exchanges,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(
            f"{name} looks like a recording but a field is missing or malformed ({type(exc).__name__}: "
            f"{exc}). Export it again from the machine that recorded it."
        ) from None


def recordings_dir(data_directory: Path) -> Path:
    """Where recordings live under the app's data directory."""
    return data_directory / RECORDINGS_DIR


def new_recording_path(data_directory: Path, model: str, when: dt.datetime) -> Path:
    """A fresh file name for a recording, e.g. ``recordings/gpt-4o-mini-20261201-215000.json``.

    Example:
        >>> new_recording_path(Path("/d"), "org/Model 1", dt.datetime(2026, 12, 1, 21, 50)).name
        'org-Model-1-20261201-215000.json'
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") or "model"
    return recordings_dir(data_directory) / f"{slug}-{when:%Y%m%d-%H%M%S}.json"


@dataclass(frozen=True)
class ListedRecording:
    """A file in the recordings folder: the recording, or the problem that stops its use."""

    path: Path
    recording: Recording | None
    problem: str | None


def list_recordings(data_directory: Path) -> list[ListedRecording]:
    """Every ``*.json`` in the recordings folder, newest first; a bad file is listed with its problem."""
    folder = recordings_dir(data_directory)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            found.append(ListedRecording(path, recording_from_bytes(path.read_bytes(), path=path, name=path.name), None))
        except RecordingError as exc:
            found.append(ListedRecording(path, None, str(exc)))
    return found


def import_recording(data: bytes, name: str, data_directory: Path) -> Recording:
    """Check an uploaded file and save it into the recordings folder (never over another one).

    Raises:
        RecordingError: the file is truncated, from another app or from a newer format.
    """
    recording = recording_from_bytes(data, name=name)
    path = new_recording_path(data_directory, recording.model, recording.recorded_at)
    n = 1
    while path.exists():
        n += 1
        path = path.with_name(f"{path.stem.rsplit('~', 1)[0]}~{n}.json")
    recording.path = path
    save_recording(recording, path)
    return recording


# --- the replay server ---------------------------------------------------------------------------


@dataclass
class ReplayRoute:
    """One recording served at one speed, behind its own random key."""

    key: str = field(repr=False)
    recording: Recording
    speed: float


class ReplayServer:
    """An OpenAI-compatible server on 127.0.0.1 that answers from recordings.

    Example (starts a real server, so not a doctest)::

        server = ReplayServer().start()
        route = server.route(recording, speed=1.0)
        llm = ChatOpenAI(base_url=server.base_url, api_key=route.key, model=recording.model)
    """

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
            if key is None:
                key = "replay-" + secrets.token_urlsafe(18)
                self._routes[key] = ReplayRoute(key, recording, speed)
                self._by_identity[identity] = key
            return self._routes[key]

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            route = self._routes.get(key)
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
