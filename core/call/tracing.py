"""Where call traces come from: one LangChain callback, one traced HTTP client, one async bridge.

* `CallTracer` is the one timing callback every runner passes in its `RunnableConfig`. It opens a
  `CallTrace` on ``on_chat_model_start``, stamps every streamed chunk on ``on_llm_new_token``,
  and closes it with its `Outcome` on ``on_llm_end`` / ``on_llm_error``; a `sink` (the session
  ledger) receives every trace it closes. Text, usage and finish reason are read from the
  message in one place, `outcome_of`.
* `TracingTransport` sits inside the HTTP client that `ChatOpenAI` is given
  (``http_client`` / ``http_async_client``): it stamps each request's connect, send, response
  headers, first byte and every body chunk, and reads the server's and the proxy's own reports
  (llama.cpp's ``timings``, ``openai-processing-ms``, ``x-lab-proxy-*``). The openai client
  (3.x) talks through ``httpx2``, so the transport is an ``httpx2`` one.
* The two meet through a context variable: the callback sets the active trace when the model
  run starts, and the request that run sends — on the same thread, or in the same asyncio task —
  finds it. LangChain runs inline handlers in the caller's context (``run_inline``), batch
  workers in copied contexts, and gathered calls in tasks of their own, so concurrent calls
  never see each other's trace.
* Whoever else wants every closed trace (the OpenTelemetry export, `core.export.otel`) registers a
  `TraceListener` with `add_listener`: it is told on the calling thread, so it must only queue.
* The sync→async bridge (a fresh event loop per action with its own traced async client,
  closed with it) lives in `core.call.bridge`.

Overhead is kept off the hot path: a few attribute writes per chunk, no parsing of chunks
except the one that carries llama.cpp's timings (`bench/trace_overhead.py` measures it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Protocol
from uuid import UUID

import httpx2
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from core.call.errors import explain_error, explain_malformed, stream_ended_early
from core.call.trace import (
    COMPLETE,
    FAILED,
    INCOMPLETE,
    CallTrace,
    HttpAttempt,
    Outcome,
    ProxyReport,
    ServerReport,
    StreamChunk,
)
from core.call.usage import Usage

Clock = Callable[[], float]

_ACTIVE: ContextVar[CallTrace | None] = ContextVar("lab_active_trace", default=None)

#: Response headers kept on each attempt: the server's and the proxy's own timing reports.
REPORTED_HEADERS = (
    "openai-processing-ms", "retry-after", "x-request-id",
    # OpenAI's rate-limit state after this request: the load test draws it over time.
    "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
    "x-ratelimit-limit-requests", "x-ratelimit-limit-tokens",
)
_HEAD_BYTES = 2048
_TIMINGS = b'"timings"'


# --- outcome: text, usage, finish reason, problem -------------------------------------------


def message_text(message: Any) -> str:
    """A message's text, whether its content is a string or a list of content blocks.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> message_text(AIMessage(content="hi"))
        'hi'
    """
    content = getattr(message, "content", "")
    return content if isinstance(content, str) else str(getattr(message, "text", "") or "")


def outcome_of(message: Any, trace: CallTrace | None = None, secrets: Sequence[str] = ()) -> Outcome:
    """What a finished call came to, read from its (merged) message — the one place that does.

    A streamed answer over the OpenAI protocol that ended without a finish reason is
    *incomplete*: the connection closed before the server said it was done.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> o = outcome_of(AIMessage(content="4", response_metadata={"finish_reason": "stop",
        ...                "model_name": "m"}, usage_metadata={"input_tokens": 3,
        ...                "output_tokens": 1, "total_tokens": 4}))
        >>> o.status, o.text, o.usage.output_tokens, o.model
        ('complete', '4', 1, 'm')
    """
    meta = dict(getattr(message, "response_metadata", None) or {})
    outcome = Outcome(
        status=COMPLETE,
        text=message_text(message),
        usage=Usage.from_metadata(getattr(message, "usage_metadata", None)),
        finish_reason=meta.get("finish_reason") or None,
        model=meta.get("model_name") or None,
        response_metadata=meta,
    )
    if trace is not None and trace.streamed and not outcome.finish_reason and _speaks_openai(trace):
        outcome.status = INCOMPLETE
        problem = None
        if not trace.text_chunks and trace.attempt is not None:
            problem = explain_malformed(None, trace.attempt, tuple(secrets))
        outcome.problem = problem or stream_ended_early(len(trace.chunks), len(trace.text_chunks))
    return outcome


def failed_outcome(error: BaseException, trace: CallTrace | None, secrets: Sequence[str] = (), text: str = "") -> Outcome:
    """The outcome of a call that raised: the problem explained, what arrived kept."""
    evidence = trace.attempt if trace is not None else None
    return Outcome(status=FAILED, text=text, problem=explain_error(error, *secrets, evidence=evidence))


def _speaks_openai(trace: CallTrace) -> bool:
    # The finish-reason rule holds for the OpenAI protocol; LangChain's fake models never send one.
    return bool(trace.attempts) or trace.provider_protocol == "openai"


# --- listeners: who else hears of every closed trace ------------------------------------------


class TraceListener(Protocol):
    """Told of every trace any `CallTracer` closes, on the thread or task that closed it.

    Attributes:
        wants_prompts: the tracer keeps each call's input messages for it (content capture);
            otherwise it never holds them.
    """

    wants_prompts: bool

    def closed(self, trace: CallTrace, secrets: tuple[str, ...], prompt: list[tuple[str, str]] | None) -> None:
        """A call ended. Runs on the caller's hot path: queue the work, never do it here."""


_LISTENERS: list[TraceListener] = []


def add_listener(listener: TraceListener) -> None:
    """Tell `listener` of every trace closed from now on, by any tracer in this process."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def remove_listener(listener: TraceListener) -> None:
    """Stop telling `listener` (nothing happens when it was not listening)."""
    if listener in _LISTENERS:
        _LISTENERS.remove(listener)


def _prompt_of(messages: list[list[Any]]) -> list[tuple[str, str]]:
    """(role, text) of each input message of a chat-model run's first prompt."""
    return [(str(getattr(m, "type", "") or "user"), message_text(m)) for m in (messages[0] if messages else [])]


# --- the callback ------------------------------------------------------------------------------


class CallTracer(BaseCallbackHandler):
    """The one timing callback: a `CallTrace` per chat-model run it sees.

    Pass it in ``config={"callbacks": [tracer]}``; LangChain propagates it to nested runs, batch
    workers and async tasks. A runner that knows when it began a call says so with `expect`
    (its ``run_id`` in the config), so the trace counts from there rather than from LangChain's
    own start.

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> tracer = CallTracer(pattern="demo")
        >>> FakeListChatModel(responses=["ok"]).invoke("hi", config={"callbacks": [tracer]}).content
        'ok'
        >>> [(t.pattern, t.status, t.outcome.text) for t in tracer.traces()]
        [('demo', 'complete', 'ok')]
    """

    # A few attribute writes per event: run inline on the calling thread or task, never on an
    # executor, so the context variable set at the start is the one the HTTP request sees.
    run_inline = True

    def __init__(
        self,
        *,
        pattern: str = "",
        provider: str = "",
        secrets: Sequence[str] = (),
        sink: Callable[[CallTrace], None] | None = None,
        clock: Clock = time.perf_counter,
    ) -> None:
        self.pattern = pattern
        self.provider = provider
        self.secrets = tuple(secrets)
        self.sink = sink
        self.clock = clock
        self._traces: dict[UUID, CallTrace] = {}
        self._expected: dict[UUID, float] = {}
        self._prompts: dict[str, list[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def expect(self, origin: float | None = None) -> UUID:
        """Announce a call the runner is about to make; returns the ``run_id`` to pass it."""
        run_id = uuid.uuid4()
        with self._lock:
            self._expected[run_id] = self.clock() if origin is None else origin
        return run_id

    def trace(self, run_id: UUID | str) -> CallTrace | None:
        """The trace of one run, once it started."""
        key = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        return self._traces.get(key)

    def traces(self) -> list[CallTrace]:
        """Every trace so far, in the order the runs started."""
        with self._lock:
            return list(self._traces.values())

    # LangChain's callback API -------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        now = self.clock()
        params = invocation_params or kwargs.get("invocation_params") or {}
        meta = metadata or {}
        model = str(params.get("model") or params.get("model_name") or meta.get("ls_model_name") or "unknown model")
        with self._lock:
            origin = self._expected.pop(run_id, now)
            trace = CallTrace(
                str(run_id),
                pattern=self.pattern,
                provider=self.provider,
                model_requested=model,
                origin=origin,
                started_wall=time.time() - (now - origin),
                lc_start=now,
                tags=list(tags or []),
            )
            trace.provider_protocol = str(meta.get("ls_provider") or "")
            self._traces[run_id] = trace
            if any(listener.wants_prompts for listener in _LISTENERS):
                self._prompts[trace.run_id] = _prompt_of(messages)
        _ACTIVE.set(trace)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, chunk: Any = None, **kwargs: Any) -> None:
        trace = self._traces.get(run_id)
        if trace is None:
            return
        message = getattr(chunk, "message", None)
        text = token if isinstance(token, str) else message_text(message)
        trace.streamed = True
        # A tool call's arguments stream beside the text, in pieces (`tool_call_chunks`).
        calls = getattr(message, "tool_call_chunks", None)
        args = "".join(c.get("args") or "" for c in calls) if calls else ""
        trace.chunks.append(StreamChunk(self.clock(), text, bool(getattr(message, "usage_metadata", None)), args=args))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        now = self.clock()
        trace = self._traces.get(run_id)
        if trace is None:
            return
        trace.lc_end = now
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        message = generation.message if isinstance(generation, ChatGeneration) else None
        outcome = outcome_of(message, trace, self.secrets)
        if generation is not None and not outcome.finish_reason:
            outcome.finish_reason = (generation.generation_info or {}).get("finish_reason")
            if outcome.finish_reason and outcome.status == INCOMPLETE:
                outcome.status, outcome.problem = COMPLETE, None
        trace.outcome = outcome
        self._close(trace)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        now = self.clock()
        trace = self._traces.get(run_id)
        if trace is None:
            return
        trace.lc_end = now
        text = "".join(c.text for c in trace.chunks)
        trace.outcome = failed_outcome(error, trace, self.secrets, text)
        self._close(trace)

    def _close(self, trace: CallTrace) -> None:
        if _ACTIVE.get() is trace:
            _ACTIVE.set(None)
        if self.sink is not None:
            self.sink(trace)
        prompt = self._prompts.pop(trace.run_id, None)
        for listener in tuple(_LISTENERS):
            try:
                listener.closed(trace, self.secrets, prompt)
            except Exception:  # a listener's fault never becomes the call's
                logging.getLogger(__name__).warning("a trace listener failed", exc_info=True)


def find_tracer(config: RunnableConfig | None) -> CallTracer | None:
    """The `CallTracer` among a config's callbacks, if there is one."""
    callbacks = (config or {}).get("callbacks")
    handlers = callbacks if isinstance(callbacks, list) else getattr(callbacks, "handlers", None) or []
    return next((h for h in handlers if isinstance(h, CallTracer)), None)


def ensure_tracer(config: RunnableConfig | None, **tracer_kwargs: Any) -> tuple[RunnableConfig, CallTracer]:
    """`config` with a `CallTracer` in it (the one it has, or a new one), and that tracer.

    Example:
        >>> cfg, tracer = ensure_tracer({"tags": ["lab:x"]})
        >>> cfg["tags"], find_tracer(cfg) is tracer
        (['lab:x'], True)
    """
    tracer = find_tracer(config)
    if tracer is not None:
        return dict(config or {}), tracer  # type: ignore[return-value]  # a copy of a RunnableConfig
    tracer = CallTracer(**tracer_kwargs)
    return merge_configs(config, {"callbacks": [tracer]}), tracer


def for_one_call(config: RunnableConfig, tracer: CallTracer, origin: float | None = None, **extra: Any) -> tuple[RunnableConfig, UUID]:
    """A copy of `config` for one call: its own ``run_id``, announced to `tracer`."""
    run_id = tracer.expect(origin)
    call = dict(config)
    call.update(extra)
    call["run_id"] = run_id
    return call, run_id  # type: ignore[return-value]  # a RunnableConfig copy plus its keys


# --- the HTTP side -----------------------------------------------------------------------------


def _httpcore_hook(attempt: HttpAttempt, clock: Clock) -> Callable[[str, dict[str, Any]], None]:
    def hook(name: str, info: dict[str, Any]) -> None:
        if name.endswith("connect_tcp.started"):
            attempt.connect_started = clock()
        elif name.endswith(("connect_tcp.complete", "start_tls.complete")):
            attempt.connected = clock()
        elif name.endswith("send_request_body.complete"):
            attempt.sent = clock()
        elif name.endswith("receive_response_headers.complete"):
            attempt.headers = clock()

    return hook


def _begin(trace: CallTrace | None, clock: Clock, request: httpx2.Request) -> HttpAttempt | None:
    if trace is None or trace.lc_end is not None:
        return None
    attempt = HttpAttempt(len(trace.attempts) + 1, clock())
    # The openai client sends its body whole (bytes already in memory): keeping a reference costs
    # nothing on the hot path; it is parsed only when a page asks what went on the wire.
    with contextlib.suppress(httpx2.RequestNotRead):
        attempt.request_body = request.content
    url = request.url
    attempt.host, attempt.port = url.host, url.port or (443 if url.scheme == "https" else 80)
    trace.attempts.append(attempt)
    return attempt


def _took_headers(trace: CallTrace, attempt: HttpAttempt, response: httpx2.Response, clock: Clock) -> None:
    if attempt.headers is None:
        attempt.headers = clock()
    if attempt.sent is None:
        attempt.sent = attempt.headers
    attempt.status = response.status_code
    headers = response.headers
    attempt.content_type = headers.get("content-type")
    reported = {k: headers[k] for k in REPORTED_HEADERS if k in headers}
    reported |= {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-lab-proxy-")}
    attempt.reported = reported
    trace.proxy = ProxyReport.from_headers(reported)
    processing = reported.get("openai-processing-ms")
    if processing and (trace.server is None or trace.server.prompt_ms is None):
        with contextlib.suppress(ValueError):
            trace.server = ServerReport("openai-processing-ms header", processing_ms=float(processing))


def _took_part(trace: CallTrace, attempt: HttpAttempt, part: bytes, now: float, body: list[bytes] | None) -> None:
    if attempt.first_byte is None:
        attempt.first_byte = now
    attempt.chunk_times.append(now)
    if len(attempt.head) < _HEAD_BYTES:
        attempt.head += part[: _HEAD_BYTES - len(attempt.head)]
    attempt.tail = part
    if body is not None:
        body.append(part)
    elif _TIMINGS in part:
        _read_timings_line(trace, part)


def _took_end(trace: CallTrace, attempt: HttpAttempt, body: list[bytes] | None, now: float) -> None:
    attempt.ended = now
    if body:
        data = b"".join(body)
        if _TIMINGS in data:
            try:
                timings = json.loads(data).get("timings")
            except (ValueError, AttributeError):
                timings = None
            if isinstance(timings, dict):
                trace.server = ServerReport.from_llama_timings(timings)


def _read_timings_line(trace: CallTrace, part: bytes) -> None:
    for line in part.splitlines():
        if _TIMINGS not in line:
            continue
        try:
            timings = json.loads(line.removeprefix(b"data:").strip()).get("timings")
        except (ValueError, AttributeError):
            continue
        if isinstance(timings, dict):
            trace.server = ServerReport.from_llama_timings(timings)


def _collects_body(response: httpx2.Response) -> list[bytes] | None:
    # A whole JSON answer is parsed once at its end for llama.cpp's timings; streams are scanned
    # chunk by chunk instead (the timings ride in the last event).
    kind = response.headers.get("content-type", "")
    return [] if "json" in kind else None


class _TimedStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, trace: CallTrace, attempt: HttpAttempt, clock: Clock, body: list[bytes] | None) -> None:
        self._inner, self._trace, self._attempt, self._clock, self._body = inner, trace, attempt, clock, body

    def __iter__(self) -> Iterator[bytes]:
        try:
            for part in self._inner:
                _took_part(self._trace, self._attempt, part, self._clock(), self._body)
                yield part
        except Exception as exc:
            self._attempt.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _took_end(self._trace, self._attempt, self._body, self._clock())

    def close(self) -> None:
        self._inner.close()


class _AsyncTimedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, trace: CallTrace, attempt: HttpAttempt, clock: Clock, body: list[bytes] | None) -> None:
        self._inner, self._trace, self._attempt, self._clock, self._body = inner, trace, attempt, clock, body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._inner:
                _took_part(self._trace, self._attempt, part, self._clock(), self._body)
                yield part
        except Exception as exc:
            self._attempt.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _took_end(self._trace, self._attempt, self._body, self._clock())

    async def aclose(self) -> None:
        await self._inner.aclose()


class TracingTransport(httpx2.BaseTransport):
    """An ``httpx2`` transport that stamps the requests of traced calls into their traces.

    Requests made outside a traced model run pass straight through.
    """

    def __init__(self, inner: httpx2.BaseTransport | None = None, clock: Clock = time.perf_counter) -> None:
        self._inner = inner or httpx2.HTTPTransport(limits=_LIMITS)
        self._clock = clock

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        trace = _ACTIVE.get()
        attempt = _begin(trace, self._clock, request)
        if attempt is None or trace is None:
            return self._inner.handle_request(request)
        request.extensions["trace"] = _httpcore_hook(attempt, self._clock)
        try:
            response = self._inner.handle_request(request)
        except Exception as exc:
            attempt.error, attempt.ended = f"{type(exc).__name__}: {exc}", self._clock()
            raise
        _took_headers(trace, attempt, response, self._clock)
        response.stream = _TimedStream(response.stream, trace, attempt, self._clock, _collects_body(response))
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncTracingTransport(httpx2.AsyncBaseTransport):
    """The async twin of `TracingTransport`."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None, clock: Clock = time.perf_counter) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport(limits=_LIMITS)
        self._clock = clock

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        trace = _ACTIVE.get()
        attempt = _begin(trace, self._clock, request)
        if attempt is None or trace is None:
            return await self._inner.handle_async_request(request)
        hook = _httpcore_hook(attempt, self._clock)

        async def async_hook(name: str, info: dict[str, Any]) -> None:
            hook(name, info)

        request.extensions["trace"] = async_hook
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            attempt.error, attempt.ended = f"{type(exc).__name__}: {exc}", self._clock()
            raise
        _took_headers(trace, attempt, response, self._clock)
        response.stream = _AsyncTimedStream(response.stream, trace, attempt, self._clock, _collects_body(response))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


# The openai client's own pool limits (openai._constants.DEFAULT_CONNECTION_LIMITS), so a batch
# at c = 64 is not capped by the traced client's pool.
_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
_TIMEOUT = httpx2.Timeout(600.0, connect=5.0)  # the openai client passes its own per request
_shared_sync: httpx2.Client | None = None
_shared_lock = threading.Lock()


def traced_http_client() -> httpx2.Client:
    """The process's traced sync client, for ``ChatOpenAI(http_client=...)``.

    One per process: a sync client is bound to no event loop and is safe across threads, and
    sharing it keeps connections alive between calls, as the openai client's own would.
    """
    global _shared_sync
    with _shared_lock:
        if _shared_sync is None or _shared_sync.is_closed:
            # Never follow a redirect: a typed Base URL could bounce the request (and its key) to
            # an internal address; a 3xx is reported as what it is (core.call.errors).
            _shared_sync = httpx2.Client(transport=TracingTransport(), timeout=_TIMEOUT, follow_redirects=False)
        return _shared_sync


def traced_async_http_client() -> httpx2.AsyncClient:
    """A new traced async client, for ``ChatOpenAI(http_async_client=...)`` in one event loop.

    Close it in the loop that used it (`run_async` does).
    """
    return httpx2.AsyncClient(  # no redirects followed, as `traced_http_client`
        transport=AsyncTracingTransport(), timeout=_TIMEOUT, follow_redirects=False,
    )
