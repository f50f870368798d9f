"""Recordings: a (hosted) endpoint's answers kept on disk, checked when read, replayed by `core.network.replay`.

The lab's network proxy (`core.network.proxy`) forwards every call event by event; a route made with
``tap=recording.tap`` hands each finished exchange here — the request body, and every SSE event
with its arrival offset from the moment the proxy sent the request upstream. The recording keys
it by what changes the answer (`ANSWER_PARAMS`: messages, model, temperature, max tokens, seed,
...) and appends each exchange to the file as it is recorded, on a writer thread of its own: the
proxy's event loop, which every session's calls share, never waits for the disk, and each answer
costs one short write however long the recording is. No header is kept: no key, no
Authorization. Every field replay relies on is checked when a file is read, and a bad one named.

File format (JSON, versioned by `FORMAT_VERSION`)::


    {"format": "execution-patterns-lab/recording", "version": 1, "model": "gpt-4o-mini",
     "recorded_at": "2026-12-01T21:50:00+00:00", "upstream": "https://api.openai.com/v1",
     "exchanges": [{"key": "…sha256…", "request": {…the answer-changing fields…},
                    "status": 200, "content_type": "text/event-stream", "streamed": true,
                    "chunks": [{"at_s": 0.312, "data": "data: {…}\\n\\n"}, …],
                    "usage": {…} | null, "finish_reason": "stop" | null, "text": "…"}]}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import re
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.security.keys import without_userinfo

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
        messages = self.request.get("messages")
        messages = messages if isinstance(messages, list) else []  # an imported file may hold anything
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
        reported = payload.get("usage")
        usage = reported if isinstance(reported, dict) and reported else usage
        choices = payload.get("choices")
        # A recording may come from another machine: read only the shapes an endpoint sends.
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            finish = choice.get("finish_reason") or finish
            message = choice.get("delta") or choice.get("message")
            part = message.get("content") if isinstance(message, dict) else None
            if part:
                text.append(str(part))
    return usage, finish, "".join(text)


@dataclass
class Recording:
    """A recording: the exchanges of one endpoint, each appended to `path` as it is recorded.

    Attributes:
        model: the model recorded (the first request's, or the one given).
        upstream: the recorded endpoint's base URL (never its key).
        recorded_at: when recording began (UTC).
        path: where it is saved; None keeps it in memory only.
        write_problem: why the last write to `path` failed ("OSError: ..."), None when it did not.
    """

    model: str
    upstream: str
    recorded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    path: Path | None = None
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    write_problem: str | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # What the writer thread has still to put in the file, how many exchanges the file holds,
    # and the last write handed to the writer (`flush` waits for it).
    _unwritten: list[Exchange] = field(default_factory=list, repr=False)
    _in_file: int | None = field(default=None, repr=False)
    _last_write: Future[None] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        """'Replay: gpt-4o-mini, recorded 2026-12-01 21:50 UTC' — what the sidebar offers."""
        return f"Replay: {self.model}, recorded {self.recorded_at:%Y-%m-%d %H:%M} UTC"

    def tap(self, request_body: bytes, status: int, content_type: str,
            chunks: list[tuple[float, bytes]], streamed: bool) -> None:
        """The proxy's recording hook: keep one finished exchange (successful answers only).

        It runs on the proxy's event loop, which every session's proxied calls share: the
        exchange is kept in memory here, and the file is written by the writer thread.
        """
        if status >= 400:
            return
        exchange = exchange_from_traffic(request_body, status, content_type, chunks, streamed)
        if exchange is None:
            return
        with self._lock:
            self.exchanges[exchange.key] = exchange
            if self.path is not None:
                self._unwritten.append(exchange)
                self._last_write = _writer().submit(self._write_unwritten)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every exchange recorded so far is in the file (e.g. before listing it)."""
        with self._lock:
            last = self._last_write
        if last is not None:
            with contextlib.suppress(TimeoutError):
                last.result(timeout=timeout_s)

    def _write_unwritten(self) -> None:
        """On the writer thread: append what is new to the file, or write it whole the first time.

        Appending writes only the new answers (one `write` before the closing brackets), so a long
        recording costs the same per answer as a short one.
        """
        path = self.path
        with self._lock:
            new, self._unwritten = self._unwritten, []
            snapshot = list(self.exchanges.values())
        if not new or path is None:
            return
        try:
            if self._in_file is not None and _append(path, new, self._in_file):
                self._in_file += len(new)
            else:  # the first write, or the file no longer ends as the lab wrote it
                _replace_file(path, recording_to_bytes(self, snapshot))
                self._in_file = len(snapshot)
            self.write_problem = None
        except OSError as exc:
            self.write_problem = f"{type(exc).__name__}: {exc}"
            self._in_file = None  # write it whole next time
            _log.exception("saving the recording %s failed", path)

    def find(self, body: Mapping[str, Any]) -> Exchange | None:
        with self._lock:
            return self.exchanges.get(request_key(body))

    def listing(self) -> list[str]:
        """What is recorded, one line per exchange."""
        with self._lock:
            return [e.describe() for e in self.exchanges.values()]

    def to_json(self, exchanges: list[Exchange] | None = None) -> dict[str, Any]:
        """The file's content as JSON values (`exchanges`: a snapshot to write instead of all)."""
        if exchanges is None:
            with self._lock:
                exchanges = list(self.exchanges.values())
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": self.model,
            "upstream": without_userinfo(self.upstream),
            "recorded_at": self.recorded_at.isoformat(),
            "exchanges": [_exchange_json(e) for e in exchanges],
        }


def _exchange_json(e: Exchange) -> dict[str, Any]:
    return {
        "key": e.key, "request": e.request, "status": e.status,
        "content_type": e.content_type, "streamed": e.streamed,
        "chunks": [{"at_s": c.at_s, "data": c.data} for c in e.chunks],
        "usage": e.usage, "finish_reason": e.finish_reason, "text": e.text,
    }


_log = logging.getLogger(__name__)
_WRITER: ThreadPoolExecutor | None = None
_WRITER_LOCK = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    """One thread writes every recording file, in the order the answers came (started on first use)."""
    global _WRITER
    with _WRITER_LOCK:
        if _WRITER is None:
            _WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-recording-writer")
        return _WRITER


#: How a file the lab writes ends: the exchanges list is last, so an answer is appended by
#: writing it over these bytes, followed by them again.
_CLOSING = b"\n ]\n}\n"


def recording_to_bytes(recording: Recording, exchanges: list[Exchange] | None = None) -> bytes:
    """The recording as the file's bytes (for saving and the export button): one JSON document,
    its exchanges last and one per line, so that an answer can be appended (`_append`)."""
    data = recording.to_json(exchanges)
    exchanges = data.pop("exchanges")
    head = json.dumps(data, indent=1, ensure_ascii=False)
    lines = ",".join("\n  " + json.dumps(e, ensure_ascii=False) for e in exchanges)
    return head[: -len("\n}")].encode("utf-8") + b',\n "exchanges": [' + lines.encode("utf-8") + _CLOSING


def _append(path: Path, exchanges: list[Exchange], in_file: int) -> bool:
    """Write `exchanges` into the file's list in place; False when the file does not end as the
    lab writes it (then it is written whole)."""
    try:
        with path.open("r+b") as file:
            size = file.seek(0, 2)
            if size < len(_CLOSING):
                return False
            file.seek(size - len(_CLOSING))
            if file.read(len(_CLOSING)) != _CLOSING:
                return False
            lines = b",".join(
                b"\n  " + json.dumps(_exchange_json(e), ensure_ascii=False).encode("utf-8") for e in exchanges
            )
            file.seek(size - len(_CLOSING))
            file.write((b"," if in_file else b"") + lines + _CLOSING)
        return True
    except FileNotFoundError:
        return False


def _replace_file(path: Path, data: bytes) -> None:
    """Write a file atomically: a crash mid-write leaves the previous version, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)


def save_recording(recording: Recording, path: Path) -> None:
    """Write the whole recording to `path` atomically (importing a file)."""
    _replace_file(path, recording_to_bytes(recording))


#: The longest wait a recorded chunk may ask for: replay sleeps until each chunk's offset, and no
#: call the lab makes waits this long (its timeout is at most 600 s).
MAX_OFFSET_S = 3600.0


def recording_from_bytes(data: bytes, *, path: Path | None = None, name: str = "the file") -> Recording:
    """Read a recording file, or raise `RecordingError` saying what is wrong with it and where.

    A recording may come from another machine (Import a recording), so every field is checked
    before use: a chunk's ``at_s`` must be a time replay can wait for, a status an HTTP status.

    Example:
        >>> recording_from_bytes(b'{"format": "execution-patterns-lab/recording", "vers')
        Traceback (most recent call last):
        ...
        core.network.recording.RecordingError: the file is not a complete recording: it ends early or is not JSON (line 1, column 48). It may have been cut off while copying; export it again.
    """
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise RecordingError(
            f"{name} is not a complete recording: it ends early or is not JSON{where}. It may "
            "have been cut off while copying; export it again."
        ) from None
    except RecursionError:  # Python's JSON reader recurses once per level
        raise RecordingError(
            f"{name} nests objects or lists inside each other too deeply to read (hundreds of "
            "levels): the lab never writes that. Export the recording again."
        ) from None
    except ValueError as exc:  # an integer longer than Python converts (4,300 digits)
        raise RecordingError(f"{name}: {_long_number(data, exc)} The lab never writes that; export "
                             "the recording again.") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise RecordingError(
            f"{name} is not a recording made by the Execution Patterns Lab (no "
            f"\"format\": \"{FORMAT}\" in it). Choose a file exported with \"Export recording\"."
        )
    version = raw.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        shown = version if isinstance(version, int) and len(str(abs(version))) < 12 else "unknown"
        raise RecordingError(
            f"{name} was made by a newer version of the lab (recording format {shown}; this "
            f"one reads format {FORMAT_VERSION} and older). Update the app to replay it."
        )
    try:
        exchanges = {}
        listed = raw["exchanges"]
        if not isinstance(listed, list):
            raise _Malformed("exchanges", "is not a list")
        for n, e in enumerate(listed, 1):
            exchange = _exchange_from_json(e, f"exchange {n}")
            exchanges[exchange.key] = exchange
        if not isinstance(raw["recorded_at"], str):
            raise _Malformed("recorded_at", "is not a date")
        return Recording(
            model=str(raw["model"]), upstream=without_userinfo(str(raw.get("upstream", ""))),
            recorded_at=dt.datetime.fromisoformat(raw["recorded_at"]), path=path,
            exchanges=exchanges,
        )
    except _Malformed as bad:
        raise RecordingError(
            f"{name} looks like a recording, but {bad.where} {bad.what}. The file was changed by "
            "hand or damaged: export it again from the machine that recorded it."
        ) from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        missing = f"the field {exc} is missing" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise RecordingError(
            f"{name} looks like a recording but a field is missing or malformed ({missing}). "
            "Export it again from the machine that recorded it."
        ) from None


class _Malformed(Exception):
    """A field of a recording that cannot be used: where it is, and what is wrong with it."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where} {what}")
        self.where, self.what = where, what


def _exchange_from_json(e: object, where: str) -> Exchange:
    """One exchange of a recording file, every field checked (`_Malformed` names the bad one)."""
    if not isinstance(e, dict):
        raise _Malformed(where, "is not an object")
    status = e["status"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise _Malformed(f'{where}\'s "status"', f"is {_shown(status)}, not an HTTP status (100–599)")
    request, chunks_json = e["request"], e["chunks"]
    if not isinstance(request, dict):
        raise _Malformed(f'{where}\'s "request"', "is not an object")
    if not isinstance(chunks_json, list):
        raise _Malformed(f'{where}\'s "chunks"', "is not a list")
    chunks = []
    for m, c in enumerate(chunks_json, 1):
        if not isinstance(c, dict):
            raise _Malformed(f"{where}, chunk {m}", "is not an object")
        at = c["at_s"]
        # The digits first: a 400-digit integer overflows `isfinite`'s conversion to float.
        if (isinstance(at, bool) or not isinstance(at, (int, float)) or len(str(abs(at))) > 30
                or not math.isfinite(at) or not 0 <= at <= MAX_OFFSET_S):
            raise _Malformed(
                f'{where}, chunk {m}: "at_s"',
                f"is {_shown(at)}, not a time in seconds from 0 to {MAX_OFFSET_S:,.0f} (replay "
                "waits that long before sending the chunk)",
            )
        if not isinstance(c["data"], str):
            raise _Malformed(f'{where}, chunk {m}: "data"', "is not text")
        chunks.append(RecordedChunk(float(at), c["data"]))
    usage = e.get("usage")
    return Exchange(
        key=str(e["key"]), request=request, status=status,
        content_type=str(e["content_type"]), streamed=bool(e["streamed"]), chunks=tuple(chunks),
        usage=usage if isinstance(usage, dict) else None,
        finish_reason=e["finish_reason"] if isinstance(e.get("finish_reason"), str) else None,
        text=str(e.get("text", "")),
    )


def _shown(value: object) -> str:
    """A field's value as the message quotes it: short, whatever it is.

    Example:
        >>> _shown(10 ** 400), _shown(float("inf")), _shown(-2.5), _shown("soon")
        ('a number with 401 digits', 'infinite', '-2.5', "'soon'")
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "infinite" if math.isinf(value) else "not a number (NaN)"
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 15:
        return f"a number with {len(str(abs(value))):,} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _long_number(data: bytes, exc: ValueError) -> str:
    """Where the integer too long to read is (Python refuses over 4,300 digits by default)."""
    limit = sys.get_int_max_str_digits() or 4300
    found = re.search(rb"\d{%d,}" % (limit + 1), data)
    if found is None:
        return f"it cannot be read ({type(exc).__name__}: {exc})."
    line = data.count(b"\n", 0, found.start()) + 1
    column = found.start() - (data.rfind(b"\n", 0, found.start()) + 1) + 1
    return (f"line {line}, column {column} holds a number with {len(found.group()):,} digits, more "
            f"than the {limit:,} a number may have.")


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
    return RecordingsFolder(data_directory).listing()


def _read_listed(path: Path) -> ListedRecording:
    try:
        return ListedRecording(path, recording_from_bytes(path.read_bytes(), path=path, name=path.name), None)
    except RecordingError as exc:
        return ListedRecording(path, None, str(exc))
    except OSError as exc:  # removed or unreadable between the listing and the read
        return ListedRecording(path, None, f"{path.name} cannot be read ({exc.strerror or exc}).")


class RecordingsFolder:
    """The recordings folder, each file parsed once per version (its size and modification time).

    The sidebar lists the folder on every script run of every session: reading and parsing every
    recording each time grew with the files. A file whose size and time are unchanged gives the
    same `ListedRecording` (and the same `Recording` object, so replay routes are reused).

    Example:
        >>> import tempfile
        >>> folder = RecordingsFolder(Path(tempfile.mkdtemp()))
        >>> folder.listing()
        []
    """

    def __init__(self, data_directory: Path) -> None:
        self.folder = recordings_dir(data_directory)
        self._known: dict[Path, tuple[tuple[int, int], ListedRecording]] = {}
        self._lock = threading.Lock()

    def listing(self) -> list[ListedRecording]:
        """Every ``*.json`` in the folder, newest first; only new or changed files are read."""
        if not self.folder.is_dir():
            return []
        found: list[tuple[int, Path, tuple[int, int]]] = []
        for path in self.folder.glob("*.json"):
            try:
                stat = path.stat()
            except OSError:  # removed meanwhile
                continue
            found.append((stat.st_mtime_ns, path, (stat.st_mtime_ns, stat.st_size)))
        found.sort(key=lambda item: item[0], reverse=True)
        with self._lock:
            known: dict[Path, tuple[tuple[int, int], ListedRecording]] = {}
            for _, path, version in found:
                seen = self._known.get(path)
                known[path] = seen if seen is not None and seen[0] == version else (version, _read_listed(path))
            self._known = known  # files gone from the folder are forgotten
            return [listed for _, listed in known.values()]


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
