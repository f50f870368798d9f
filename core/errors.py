"""Turn exceptions from model calls into plain messages: what happened and what to do.

Keys never leak through here: every message passes `redact`, which removes anything that looks
like an API key or bearer token (OpenAI's own 401 message quotes part of the key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import openai

from core.embedded_server import EmbeddedModelUnavailable

_KEYLIKE = re.compile(
    r"(sk-[A-Za-z0-9_\-\*]{6,}|Bearer\s+[A-Za-z0-9._\-~+/=\*]+|(?<=api_key=)[^\s&'\"]+)"
)


def redact(text: str, *secrets: str) -> str:
    """Remove API keys from `text`: the given secrets, and anything shaped like one.

    Example:
        >>> redact("Incorrect API key provided: sk-abc123***wxyz.")
        'Incorrect API key provided: [redacted].'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)


@dataclass(frozen=True)
class CallProblem:
    """A failed call, explained.

    Attributes:
        title: short name of the fault ("Wrong API key").
        detail: what the endpoint or client said, with keys redacted.
        fix: what the user can do about it.
        kind: a stable identifier ("auth", "rate_limit", ...), for tests and tables.
    """

    kind: str
    title: str
    detail: str
    fix: str

    def as_text(self) -> str:
        return f"{self.title}: {self.detail} — {self.fix}"


def explain_error(exc: BaseException, *secrets: str) -> CallProblem:
    """Classify an exception raised by a model call.

    Example:
        >>> explain_error(TimeoutError("read timed out")).kind
        'timeout'
    """
    detail = redact(_message_of(exc), *secrets)
    if isinstance(exc, EmbeddedModelUnavailable):
        return CallProblem("embedded_unavailable", "Embedded model unavailable", detail, "See the message above.")
    if isinstance(exc, openai.AuthenticationError):
        return CallProblem(
            "auth",
            "Wrong or missing API key (HTTP 401)",
            detail,
            "Check the key in the sidebar or in .env (OPENAI_API_KEY / LAB_COMPAT_API_KEY).",
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return CallProblem("forbidden", "Access denied (HTTP 403)", detail, "This key may not use that model; check the account's access.")
    if isinstance(exc, openai.NotFoundError):
        return CallProblem(
            "not_found",
            "Unknown model or wrong URL (HTTP 404)",
            detail,
            "Check the model name and that the base URL ends in /v1 where the server expects it.",
        )
    if isinstance(exc, openai.RateLimitError):
        return CallProblem(
            "rate_limit",
            "Rate limited (HTTP 429)",
            detail,
            "Lower the concurrency, wait a moment, or raise max retries: the client already "
            "retried with back-off.",
        )
    if isinstance(exc, openai.BadRequestError):
        return CallProblem("bad_request", "Request rejected (HTTP 400)", detail, "Check the model's limits: prompt length, max tokens, parameters it supports.")
    if isinstance(exc, openai.InternalServerError) or (
        isinstance(exc, openai.APIStatusError) and exc.status_code >= 500
    ):
        return CallProblem("server_error", "The endpoint failed (HTTP 5xx)", detail, "A fault on the server side: try again; retries are set in the sidebar.")
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)):
        return CallProblem("timeout", "Timed out", detail, "The endpoint did not answer in time: raise the timeout in the sidebar or try again.")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)) or "incomplete chunked read" in detail.lower():
        return CallProblem("stream_cut", "The connection dropped mid-answer", detail, "What arrived so far is kept; run again to get the full answer.")
    if isinstance(exc, (openai.APIConnectionError, httpx.ConnectError, ConnectionError)):
        return CallProblem(
            "connection",
            "Cannot reach the endpoint",
            detail,
            "Check the base URL and that the server is running (and reachable from this machine).",
        )
    if isinstance(exc, RuntimeError) and "event loop is closed" in detail.lower():
        return CallProblem(
            "event_loop",
            "An async client outlived its event loop",
            detail,
            "Each asyncio.run makes a new loop: give it its own HTTP client "
            "(ChatOpenAI(http_async_client=...)) instead of one cached across runs.",
        )
    if isinstance(exc, openai.APIStatusError):
        return CallProblem("http_error", f"The endpoint answered HTTP {exc.status_code}", detail, "See the endpoint's message above.")
    return CallProblem("unexpected", f"Unexpected error ({type(exc).__name__})", detail, "Try again; if it persists, check the terminal running the app.")


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict) and inner.get("message"):
                return str(inner["message"])
    text = str(exc).strip()
    if isinstance(exc, openai.APIConnectionError) and exc.__cause__ is not None:
        text = f"{text} ({type(exc.__cause__).__name__}: {exc.__cause__})"
    return text or type(exc).__name__
