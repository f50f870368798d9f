"""Turn exceptions from model calls into plain messages: what happened and what to do.

Keys never leak through here: every message from an endpoint or a client passes
`redact_error`, which removes the exact secrets the session holds (`redact`), anything shaped
like a key or a bearer token (OpenAI's own 401 message quotes part of the key), and the
`user:password@` part of any URL quoted. `redact` alone (exact secrets, whole tokens) is what
exports apply to prompts and answers: a user's own text is never rewritten for looking like a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from core.embedded_server import EmbeddedModelUnavailable
from core.security.egress import RefusedBaseUrl
from core.security.keys import DEFAULT_PORTS, origin, redact_secrets, strip_userinfo_in_text

# What an error message may quote of a credential: an OpenAI-style key (possibly masked with
# "***"), an Authorization header's value (Bearer, or Basic: the base64 of a URL's userinfo),
# or a key in a query string. Applied to error messages only (`redact_error`), never to a
# user's prompts or a model's answers.
_KEYLIKE = re.compile(
    r"((?:sk|gsk|xai|pk)[-_][A-Za-z0-9_\-\*]{6,}|(?:Bearer|Basic)\s+[A-Za-z0-9._\-~+/=\*]+|"
    r"(?<=api_key=)[^\s&'\"]+)"
)


def redact(text: str, *secrets: str) -> str:
    """Remove the given secrets from `text`, exactly and as whole tokens, and nothing else.

    For prompts, answers and anything else a user wrote or a model said (`core.security.keys.redact_secrets`).

    Example:
        >>> redact("my gsk_live123 and Bearer abc.def", "gsk_live123")
        'my [redacted] and Bearer abc.def'
    """
    return redact_secrets(text, secrets)


def redact_error(text: str, *secrets: str) -> str:
    """`redact`, and also what an error message may quote of a key: anything shaped like a key or
    a bearer token, and the userinfo of a URL.

    Example:
        >>> redact_error("Incorrect API key provided: sk-abc123***wxyz.")
        'Incorrect API key provided: [redacted].'
        >>> redact_error("Cannot reach http://me:gsk_x1@10.0.0.9/v1")
        'Cannot reach http://10.0.0.9/v1'
    """
    return _KEYLIKE.sub("[redacted]", strip_userinfo_in_text(redact(text, *secrets)))


class StepLimitReached(RuntimeError):
    """An agent loop made its last allowed model call and the model still asked for a tool."""


@dataclass(frozen=True)
class CallProblem:
    """A failed call, explained.

    Attributes:
        kind: a stable identifier ("auth", "rate_limit", ...), for tests and tables.
        title: short name of the fault ("Wrong API key"), with the retries made when known.
        detail: what the endpoint or client said, with keys redacted.
        fix: what the user can do about it.
        retries: how many times the client retried before giving up (`max_retries` in
            `ChatOpenAI`); None when unknown, e.g. for errors that are never retried.
    """

    kind: str
    title: str
    detail: str
    fix: str
    retries: int | None = None

    def as_text(self) -> str:
        return f"{self.title}: {self.detail} — {self.fix}"


# The openai client (3.x) talks through `httpx2`; LangChain and our own code use `httpx`.
# Transport errors may come from either, so each check names both.
_TIMEOUTS: tuple[type[BaseException], ...] = (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)
_CUTS: tuple[type[BaseException], ...] = (httpx.RemoteProtocolError, httpx.ReadError)
_CONNECTS: tuple[type[BaseException], ...] = (openai.APIConnectionError, httpx.ConnectError, ConnectionError)
try:  # pragma: no branch - present with the pinned openai
    import httpx2

    _TIMEOUTS += (httpx2.TimeoutException,)
    _CUTS += (httpx2.RemoteProtocolError, httpx2.ReadError)
    _CONNECTS += (httpx2.ConnectError,)
except ImportError:  # pragma: no cover - older openai releases use httpx itself
    pass


def explain_error(exc: BaseException, *secrets: str, evidence: Any = None) -> CallProblem:
    """Classify an exception raised by a model call: cause, what was said, and the fix.

    LangChain wraps the openai client's errors, which wrap the transport's, so the whole
    chain of causes is examined. Retries the client made are read from the failed request
    (`x-stainless-retry-count`, set by the openai client on every attempt). `evidence` is what
    the traced HTTP client saw of the last response (a `core.call.trace.HttpAttempt`: status,
    Content-Type, the body's first bytes): with it, an HTTP 200 that was not a chat completion
    is named for what it was (a web page, a non-JSON line, no choices).

    Example:
        >>> explain_error(TimeoutError("read timed out")).kind
        'timeout'
        >>> explain_error(ConnectionRefusedError("[Errno 111] Connection refused")).title
        'Cannot reach the endpoint'
    """
    chain = _causes(exc)
    detail = redact_error(_message_of(exc), *secrets)
    retries = retries_made(exc)

    def problem(kind: str, title: str, fix: str) -> CallProblem:
        return CallProblem(kind, title + _after(retries), detail, fix, retries)

    if isinstance(exc, RefusedBaseUrl):
        return CallProblem("refused_url", "Base URL refused on a shared lab", detail,
                           "Use a public endpoint, or one configured in .env.")
    step_limit = next((e for e in chain if isinstance(e, StepLimitReached)), None)
    if step_limit is not None:
        return CallProblem(
            "step_limit", "Stopped at the step limit", redact(str(step_limit), *secrets),
            "The loop stops itself so that a model that keeps asking for tools cannot run "
            "forever. Raise the step limit if the task needs more steps.",
        )
    if isinstance(exc, EmbeddedModelUnavailable):
        return CallProblem("embedded_unavailable", "Embedded model unavailable", detail, "See the message above.")
    status = next((e for e in chain if isinstance(e, openai.APIStatusError)), None)
    if status is not None:
        return _explain_status(status, problem, retries)
    cut = next((e for e in chain if isinstance(e, openai.LengthFinishReasonError)), None)
    if cut is not None:
        # The openai client's structured-output stream raises this when the answer stopped at
        # max tokens: the JSON is cut, not wrong, and saying "invalid JSON" would mislead.
        used = getattr(getattr(cut, "completion", None), "usage", None)
        spent = f" (all {used.completion_tokens} were used)" if used is not None else ""
        said = "finish_reason: length" + (f" after {used.completion_tokens} output tokens" if used is not None else "")
        return CallProblem(
            "cut_at_max_tokens", "Cut at max tokens", said,
            f"The answer reached the max tokens limit{spent} before the object was finished. "
            "Raise max tokens in the sidebar's Generation settings, or ask for a smaller object.",
            retries,
        )
    if any(isinstance(e, _TIMEOUTS) for e in chain):
        return problem(
            "timeout",
            "Timed out",
            "The endpoint did not answer in time (the timeout is per attempt). Raise the "
            "timeout in the sidebar's Generation settings, or try again later."
            + _retry_note(retries),
        )
    if any(isinstance(e, _CUTS) for e in chain) or "incomplete chunked read" in detail.lower():
        return problem(
            "stream_cut",
            "The connection dropped mid-answer",
            "The endpoint or the network closed the connection before the answer was "
            "complete. Whatever arrived is kept; run again for the full answer.",
        )
    if any(isinstance(e, _CONNECTS) for e in chain):
        return problem(
            "connection",
            "Cannot reach the endpoint",
            "Check the base URL (host, port, and /v1 where the server expects it) and that "
            "the server is running and reachable from this machine." + _retry_note(retries),
        )
    malformed = explain_malformed(exc, evidence, secrets)
    if malformed is not None:
        return malformed
    if isinstance(exc, RuntimeError) and "event loop is closed" in detail.lower():
        return problem(
            "event_loop",
            "An async client outlived its event loop",
            "Each asyncio.run makes a new loop: give it its own HTTP client "
            "(ChatOpenAI(http_async_client=...)) instead of one cached across runs.",
        )
    return CallProblem(
        "unexpected", f"Unexpected error ({type(exc).__name__})", _clip(detail, UNEXPECTED_DETAIL_CHARS),
        "Try again; if it persists, check the terminal running the app.", retries,
    )


NEWLINE = b"\n"
_CHECK_URL = (
    "Check the base URL in the sidebar: an OpenAI-compatible server answers under /v1 "
    "(e.g. http://localhost:11434/v1, http://localhost:8000/v1), and a proxy or login page "
    "in between answers for it."
)


def explain_malformed(exc: BaseException | None, evidence: Any, secrets: tuple[str, ...] = ()) -> CallProblem | None:
    """Name an HTTP 200 that was not a chat completion, from the error and what came back.

    Returns None when the error is not of that kind.

    Example:
        >>> explain_malformed(ValueError("Unexpected response type from OpenAI-compatible "
        ...     "endpoint. Expected a dict or openai.BaseModel, got str: '<html>Sign in</html>'"), None).kind
        'not_json'
        >>> explain_malformed(json.JSONDecodeError("Expecting value", "{oops", 1), None).title
        'A line of the streamed answer was not JSON'
    """
    chain = _causes(exc) if exc is not None else []
    status = getattr(evidence, "status", None)
    content_type = (getattr(evidence, "content_type", None) or "").split(";")[0].strip().lower()
    head = bytes(getattr(evidence, "head", b"") or b"")
    tail = bytes(getattr(evidence, "tail", b"") or b"")
    words = redact_error(" ".join(str(e) for e in chain), *secrets)
    looks_html = content_type in ("text/html", "application/xhtml+xml") or head.lstrip()[:15].lower().startswith(
        (b"<!doctype", b"<html")
    ) or "got str: '<" in words.lower()
    if looks_html and (status in (None, 200)) and (exc is None or isinstance(exc, (ValueError, TypeError))):
        return CallProblem(
            "not_json",
            f"The endpoint answered with a web page, not a chat completion (HTTP {status or 200}, HTML)",
            redact_error(excerpt(_page_summary(head) or words, EXCERPT_CHARS * 2), *secrets),
            _CHECK_URL,
        )
    plain_body = content_type and "json" not in content_type and "event-stream" not in content_type
    if status in (None, 200) and isinstance(exc, (ValueError, TypeError)) and (
        "got str:" in words or plain_body
    ):  # e.g. text/plain: whatever the URL serves, quoted only as a short excerpt
        return CallProblem(
            "not_json",
            f"The endpoint answered with something that is not a chat completion (HTTP {status or 200}, "
            f"{content_type or 'no content type'})",
            redact_error("It began: " + excerpt(head.decode("utf-8", "replace") or words), *secrets),
            _CHECK_URL,
        )
    if any(isinstance(e, json.JSONDecodeError) for e in chain):
        return CallProblem(
            "bad_json",
            "A line of the streamed answer was not JSON",
            redact_error("The endpoint sent: " + _first_bad_line(head + NEWLINE + tail, words), *secrets),
            "The server is not speaking OpenAI's streaming format, or something between you and "
            "it rewrites the stream. What arrived before that line is kept. " + _CHECK_URL,
        )
    empty = b'"choices":[]' in head.replace(b" ", b"") or any(
        isinstance(e, IndexError) and _raised_in(e, "langchain_openai") for e in chain
    )
    no_chunks = "no generation chunks were returned" in words.lower()
    if empty or no_chunks or (exc is None and status == 200):
        what = "without any choices" if empty else "with no answer in it"
        return CallProblem(
            "empty_choices",
            f"The endpoint answered HTTP 200 {what}",
            redact_error(_page_summary(head) or words[:200] or "The response held no message.", *secrets),
            "A chat completion carries its answer in `choices`; this one had none. The model may "
            "have been filtered, or the server is not fully OpenAI-compatible: check the model "
            "name, and " + _CHECK_URL[0].lower() + _CHECK_URL[1:],
        )
    return None


#: Characters of an unexpected body quoted in a message: enough to recognise a login page or a
#: proxy's error, too few to copy a document out of a service the URL pointed at.
EXCERPT_CHARS = 80
#: Characters of an unexpected exception's message shown.
UNEXPECTED_DETAIL_CHARS = 300


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable excerpt of a body: control characters and runs of spaces removed, cut
    at `limit` characters with an ellipsis.

    Example:
        >>> excerpt("ami-id" + chr(10) + "instance-id" + chr(27) + "[31m" + "x" * 200, 30)
        'ami-id instance-id [31mxxxxxx…'
    """
    cleaned = re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in text)).strip()
    return _clip(cleaned, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def stream_ended_early(chunks: int, text_chunks: int) -> CallProblem:
    """The problem of a stream that ended without a finish reason (no error was raised).

    Example:
        >>> stream_ended_early(12, 10).kind
        'incomplete'
    """
    return CallProblem(
        "incomplete",
        "The stream ended early: the answer may be cut",
        f"The connection closed after {chunks} chunk{'s' if chunks != 1 else ''} "
        f"({text_chunks} with text) without a finish reason or [DONE].",
        "What arrived is kept and shown. Run again for the full answer; if it keeps happening, "
        "check the server's logs or the timeout of a proxy in between.",
    )


def _page_summary(head: bytes) -> str:
    """A few readable words of an HTML or text body: its <title>, else its first characters."""
    text = head.decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title and title.group(1).strip():
        return f"The page's title: \"{title.group(1).strip()[:120]}\""
    plain = re.sub(r"<[^>]+>", " ", text)
    plain = re.sub(r"\s+", " ", plain).strip()
    return plain[:160]


def _first_bad_line(head: bytes, words: str) -> str:
    for line in head.decode("utf-8", "replace").splitlines():
        data = line.removeprefix("data:").strip()
        if not line.startswith("data:") or data == "[DONE]":
            continue
        try:
            json.loads(data)
        except ValueError:
            return repr(data[:120])
    return words[:160]


def _raised_in(exc: BaseException, package: str) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if package in (tb.tb_frame.f_globals.get("__name__") or ""):
            return True
        tb = tb.tb_next
    return False


def _explain_status(
    exc: openai.APIStatusError, problem: Callable[[str, str, str], CallProblem], retries: int | None
) -> CallProblem:
    code = exc.status_code
    if 300 <= code < 400:
        where = _redirect_target(exc)
        return CallProblem(
            "redirect",
            f"The endpoint redirected the request (HTTP {code}) to {where}",
            f"HTTP {code} redirect to {where}; the lab does not follow redirects.",
            "A Base URL must answer the API itself: redirects are not followed, so that no request "
            "(and no key) is sent on to another address. If you trust the address it redirects "
            "to, enter that as the Base URL.",
            retries,
        )
    if isinstance(exc, openai.AuthenticationError) or code == 401:
        return problem(
            "auth",
            "Wrong or missing API key (HTTP 401)",
            "Check the key in the sidebar or in .env (OPENAI_API_KEY / LAB_COMPAT_API_KEY).",
        )
    if isinstance(exc, openai.PermissionDeniedError) or code == 403:
        return problem("forbidden", "Access denied (HTTP 403)", "This key may not use that model; check the account's access.")
    if getattr(exc, "code", None) == "not_recorded":  # the lab's replay server (core/network/replay.py)
        return problem(
            "not_recorded",
            "Not in the recording (replay, HTTP 404)",
            "A replay answers only what was recorded: ask one of the requests listed above, with "
            "the same prompt and generation settings, or choose Live under Record & replay.",
        )
    if isinstance(exc, openai.NotFoundError) or code == 404:
        return problem(
            "not_found",
            "Unknown model or wrong URL (HTTP 404)",
            "Check the model name in the sidebar (exactly as the endpoint lists it) and that the "
            "base URL ends in /v1 where the server expects it.",
        )
    if isinstance(exc, openai.RateLimitError) or code == 429:
        wait = _header(exc, "retry-after")
        asked = f" The endpoint asked to wait {wait} s (Retry-After)." if wait else ""
        return problem(
            "rate_limit",
            "Rate limited (HTTP 429)",
            "Too many requests at once or per minute for this endpoint." + asked
            + _retry_note(retries) + " Lower the concurrency, wait a moment, or raise max retries.",
        )
    if (isinstance(exc, openai.BadRequestError) or code == 400) and _names_a_schema(exc):
        return problem(
            "schema_rejected",
            "The endpoint cannot use this schema (HTTP 400)",
            "The server could not turn the JSON Schema into its output constraint (llama.cpp "
            "compiles it to a grammar; OpenAI's strict mode supports a subset). Its message "
            "above names the part it rejected: change or remove that part.",
        )
    if isinstance(exc, openai.BadRequestError) or code == 400:
        return problem("bad_request", "Request rejected (HTTP 400)", "Check the model's limits: prompt length, max tokens, parameters it supports.")
    if code == 502 and _error_code(exc) == "upstream_unreachable":
        return problem(
            "connection",
            "Cannot reach the endpoint (HTTP 502 from the lab's network proxy)",
            "The proxy could not connect to the endpoint behind it: check the base URL and "
            "that the server is running." + _retry_note(retries),
        )
    if code >= 500:
        return problem(
            "server_error",
            f"The endpoint failed (HTTP {code})",
            "A fault on the server side, not in your request: try again." + _retry_note(retries),
        )
    return problem("http_error", f"The endpoint answered HTTP {code}", "See the endpoint's message above.")


def _names_a_schema(exc: openai.APIStatusError) -> bool:
    """Whether a 400's message is about the request's JSON Schema (or the grammar made of it)."""
    said = _message_of(exc).lower()
    return any(word in said for word in ("schema", "grammar", "response_format"))


def _redirect_target(exc: openai.APIStatusError) -> str:
    """Where a redirect pointed, as a host only (never its path or query: they may carry
    tokens), or "the same host" / "an address it did not give"."""
    location = (_header(exc, "location") or "").strip()
    if not location:
        return "an address it did not give"
    found = origin(location)
    if found is None:
        return "another path on the same host"
    scheme, host, port = found
    return f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS[scheme] else f":{port}")


def _after(retries: int | None) -> str:
    if not retries:
        return ""
    return f" after {retries} {'retry' if retries == 1 else 'retries'}"


def _retry_note(retries: int | None) -> str:
    if retries is None:
        return ""
    if retries == 0:
        return " No retries were made (max retries is 0 in the sidebar's Generation settings)."
    return (
        f" The client already retried {retries} {'time' if retries == 1 else 'times'} with "
        "back-off (max retries, in the sidebar's Generation settings)."
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in seen) and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def retries_made(exc: BaseException) -> int | None:
    """Retries the openai client made before this error, read off the last request it sent.

    Example:
        >>> retries_made(ValueError("not a request error")) is None
        True
    """
    for e in _causes(exc):
        request = None
        if isinstance(e, openai.APIStatusError):
            try:
                request = e.response.request
            except RuntimeError:  # a response built without a request
                request = None
        elif isinstance(e, openai.APIError):
            request = getattr(e, "request", None)
        if request is not None:
            value = str(request.headers.get("x-stainless-retry-count", ""))
            if value.isdigit():
                return int(value)
    return None


def _header(exc: openai.APIStatusError, name: str) -> str | None:
    try:
        return exc.response.headers.get(name)
    except Exception:
        return None


def _error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    return str(inner.get("code")) if isinstance(inner, dict) and inner.get("code") else None


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict) and inner.get("message"):
                return str(inner["message"])
    text = str(exc).strip() or type(exc).__name__
    # "Connection error." says nothing: name the transport's own error at the bottom of the chain.
    root = _causes(exc)[-1]
    if root is not exc and not isinstance(root, openai.APIError):
        text = f"{text} ({type(root).__name__}: {str(root).strip() or 'no message'})"
    return text
