"""The call trace: one record of one model call, under every pattern.

A `CallTrace` holds what happened (the `Outcome`: text, usage or "not reported", finish reason,
model, and a problem or none) and *when* it happened: marks on one monotonic clock
(`time.perf_counter`), each stamped by the layer that saw it:

* the runner: when it began the call (``origin``) and when it was done with it (``finished``);
* LangChain's callbacks: the model run's start, end or error, and every streamed chunk;
* the HTTP client `ChatOpenAI` really uses (`core.call.tracing`): each attempt's request, connection,
  request sent, response headers, first body byte, every body chunk and the end of the body;
* the network-conditions proxy's own report of the waits it injected (response headers);
* the server's own report where it gives one: llama.cpp's ``timings``, OpenAI's
  ``openai-processing-ms`` header.

From the marks, the trace derives the usual serving figures itself (its properties `ttft_s`,
`itl_s`, `tpot_s`, `e2e_s`, `output_tokens_per_s`, `output_tokens`: the only place they are
computed; definitions in `core.call.metric_definitions`), and `core.call.anatomy` splits the call into consecutive segments that add up to its measured total: each
segment spans two measured marks, or divides one span by what a server or proxy reported, and
whatever cannot be attributed is a segment of its own, named as such.

Nothing here imports an HTTP library or Streamlit: it is pure data and arithmetic on recorded
marks, so every rule is testable on marks written by hand.
"""

from __future__ import annotations

import itertools
import time
from array import array
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from core.call.metric_definitions import METRIC_DEFINITIONS
from core.call.usage import Usage

if TYPE_CHECKING:  # core.call.errors loads openai and httpx: this module stays pure data
    from core.call.errors import CallProblem

#: How much of the answer a compacted trace keeps (`CallTrace.compacted`): more than the
#: session report's preview of it (`core.export.report.ANSWER_PREVIEW_CHARS`).
COMPACT_TEXT_CHARS = 1_000

#: Outcome statuses.
COMPLETE = "complete"
INCOMPLETE = "incomplete"
FAILED = "failed"

__all__ = ["METRIC_DEFINITIONS"]  # re-exported: the definitions live in core.call.metric_definitions


class TokenSource(str, Enum):
    """Where a call's output-token count came from."""

    USAGE = "usage"  # the endpoint's reported completion tokens
    CHUNKS = "chunks"  # text chunks counted (usage not reported)


@dataclass(slots=True)
class StreamChunk:
    """One chunk LangChain handed on while streaming (``on_llm_new_token``).

    Attributes:
        at: `time.perf_counter()` when LangChain produced it.
        text: its text ("" for role-only, finish-only and usage-only chunks).
        usage: whether it carried the usage block (the final usage-only chunk).
        text_not_kept: it carried text, but only its time was kept (a stored batch row keeps
            when its text chunks came, not their text).
        args: the piece of a tool call's arguments it carried ("" for none): tool calls and
            `function_calling` structured output stream their JSON here, not as text.
    """

    at: float
    text: str
    usage: bool = False
    text_not_kept: bool = False
    args: str = ""

    @property
    def has_text(self) -> bool:
        return bool(self.text) or self.text_not_kept


@dataclass(slots=True)
class HttpAttempt:
    """One HTTP request the client sent for the call (a retry is a second attempt).

    Every time is `time.perf_counter()` as the client's transport saw it; None when that step
    did not happen (a reused connection has no connect; a refused one has no headers).

    Attributes:
        number: 1 for the first attempt.
        started: the transport was handed the request.
        connect_started / connected: a new TCP connection was opened (None when reused).
        sent: the request body was written.
        headers: the response headers were read.
        first_byte: the first body chunk arrived.
        ended: the body ended (or failed).
        chunk_times: arrival of every body chunk.
        status: the HTTP status, None when no response came.
        content_type: the response's Content-Type header.
        head: the first bytes of the body (what came back, for naming malformed answers).
        tail: the last body chunk (where a broken stream line is).
        reported: headers the proxy or the server reported timings in (lower-case names).
        error: the transport's error, as "Type: message", when the attempt failed.
        request_body: the request's JSON body as sent (no key: keys travel in headers), so a
            page can show what a call put on the wire (``response_format``, ``tools``).
        host / port: where the request went (the lab's proxy, when the call went through it).
    """

    number: int
    started: float
    connect_started: float | None = None
    connected: float | None = None
    sent: float | None = None
    headers: float | None = None
    first_byte: float | None = None
    ended: float | None = None
    chunk_times: list[float] = field(default_factory=list)
    status: int | None = None
    content_type: str | None = None
    head: bytes = b""
    tail: bytes = b""
    reported: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    request_body: bytes = b""
    host: str | None = None
    port: int | None = None

    def last_chunk_at_or_before(self, moment: float) -> float | None:
        """Arrival of the last body chunk that came in no later than `moment`.

        Example:
            >>> HttpAttempt(1, 0.0, chunk_times=[0.1, 0.2, 0.3]).last_chunk_at_or_before(0.25)
            0.2
        """
        found = None
        for at in self.chunk_times:
            if at > moment:
                break
            found = at
        return found


@dataclass(frozen=True)
class ServerReport:
    """What the server said about its own time.

    Attributes:
        source: where it came from ("llama.cpp timings", "openai-processing-ms header").
        prompt_tokens: prompt tokens the server processed (llama.cpp ``prompt_n``; tokens it
            took from its prompt cache are not in it: see `cached_tokens`).
        prompt_ms: time spent on the prompt (prefill).
        cached_tokens: prompt tokens reused from the server's cache (llama.cpp ``cache_n``).
        predicted_tokens: tokens generated (``predicted_n``).
        predicted_ms: time spent generating them (decode).
        processing_ms: a single total the server reported (OpenAI), when there is no split.
    """

    source: str
    prompt_tokens: int | None = None
    prompt_ms: float | None = None
    cached_tokens: int | None = None
    predicted_tokens: int | None = None
    predicted_ms: float | None = None
    processing_ms: float | None = None

    @property
    def first_token_ms(self) -> float | None:
        """Decode time of one token (``predicted_ms / predicted_n``): the first token's share."""
        if self.predicted_ms is None or not self.predicted_tokens:
            return None
        return self.predicted_ms / self.predicted_tokens

    @classmethod
    def from_llama_timings(cls, timings: dict[str, Any]) -> ServerReport:
        """Read llama.cpp's ``timings`` block (in the non-streamed body, or the last chunk).

        Example:
            >>> r = ServerReport.from_llama_timings({"prompt_n": 32, "prompt_ms": 40.0,
            ...     "predicted_n": 8, "predicted_ms": 96.0, "cache_n": 0})
            >>> r.prompt_tokens, r.first_token_ms
            (32, 12.0)
        """

        def number(name: str) -> float | None:
            value = timings.get(name)
            return float(value) if isinstance(value, (int, float)) else None

        def count(name: str) -> int | None:
            value = timings.get(name)
            return int(value) if isinstance(value, (int, float)) else None

        return cls(
            source="llama.cpp timings",
            prompt_tokens=count("prompt_n"),
            prompt_ms=number("prompt_ms"),
            cached_tokens=count("cache_n"),
            predicted_tokens=count("predicted_n"),
            predicted_ms=number("predicted_ms"),
        )


@dataclass(frozen=True)
class ProxyReport:
    """The waits the lab's network-conditions proxy injected into one request.

    Attributes:
        held_ms: the request was held this long before it was forwarded (simulated latency).
        queued_ms: it waited this long for a rate-limit or concurrency slot.
        chunk_delay_ms: each streamed chunk was delayed this long.
        refused: the proxy itself answered (e.g. "429", "503"), the endpoint never saw it.
    """

    held_ms: float = 0.0
    queued_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    refused: str | None = None

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> ProxyReport | None:
        """Read the proxy's ``x-lab-proxy-*`` headers; None when the call did not go through it.

        Example:
            >>> ProxyReport.from_headers({"x-lab-proxy-held-ms": "300.0"}).held_ms
            300.0
            >>> ProxyReport.from_headers({}) is None
            True
        """
        if not any(name.startswith("x-lab-proxy-") for name in headers):
            return None

        def ms(name: str) -> float:
            try:
                return float(headers.get(name, 0) or 0)
            except ValueError:
                return 0.0

        return cls(
            held_ms=ms("x-lab-proxy-held-ms"),
            queued_ms=ms("x-lab-proxy-queued-ms"),
            chunk_delay_ms=ms("x-lab-proxy-chunk-delay-ms"),
            refused=headers.get("x-lab-proxy-refused") or None,
        )


@dataclass
class Outcome:
    """What a call came to.

    Attributes:
        status: "complete", "incomplete" (a stream that ended without a finish reason: the text
            that arrived is kept, and may be cut) or "failed".
        text: the answer, or what arrived of it.
        usage: token counts; None when the endpoint reported none ("not reported", never 0).
        finish_reason: "stop", "length", ... or None when none was given.
        model: the model the endpoint says answered; None when it did not say.
        problem: what went wrong, explained; None when nothing did.
        response_metadata: LangChain's ``response_metadata`` of the (merged) message.
    """

    status: str
    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    problem: CallProblem | None = None
    response_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class CallTrace:
    """One model call: its outcome and its marks, all on the `time.perf_counter` clock.

    Attributes:
        run_id: LangChain's run id of the model call.
        pattern: the page or runner that made it ("streaming", "batch", ...).
        provider: the endpoint's provider label.
        model_requested: the model name sent with the request.
        origin: when the runner began the call (before LangChain); all relative times count
            from here.
        started_wall: the same moment as seconds since the epoch (for tables and exports).
        lc_start / lc_end: LangChain's model run started / ended (or failed).
        finished: the runner was done with the call (its last chunk consumed).
        streamed: the call streamed (chunks were produced).
        chunks: every streamed chunk, as LangChain produced it.
        attempts: every HTTP request the client sent for this call, in order.
        server: the server's own report of its time, when it gave one.
        proxy: the network-conditions proxy's report, when the call went through it.
        outcome: set when the call ended.
        tags: the call's LangChain tags (e.g. "call:3", "row:17").
        provider_protocol: LangChain's ``ls_provider`` of the model ("openai" for ChatOpenAI).
        page_started / shown: a page's own marks around the call — its script run began, and it
            finished handing the answer to the browser. Outside the call's figures.
        kept_text_times: set on a `compacted` trace only: every text chunk's arrival, 8 bytes
            each, where `chunks` keeps just the chunks its marks name.
    """

    run_id: str
    pattern: str = ""
    provider: str = ""
    model_requested: str = ""
    origin: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    lc_start: float | None = None
    lc_end: float | None = None
    finished: float | None = None
    streamed: bool = False
    chunks: list[StreamChunk] = field(default_factory=list)
    attempts: list[HttpAttempt] = field(default_factory=list)
    server: ServerReport | None = None
    proxy: ProxyReport | None = None
    outcome: Outcome | None = None
    tags: list[str] = field(default_factory=list)
    provider_protocol: str = ""
    page_started: float | None = None
    shown: float | None = None
    kept_text_times: array[float] | None = field(default=None, repr=False)

    # --- marks, relative to origin ------------------------------------------------------------

    def rel(self, moment: float | None) -> float | None:
        """Seconds from the call's origin to `moment` (None stays None)."""
        return None if moment is None else moment - self.origin

    @property
    def end(self) -> float | None:
        """The call's last moment: the runner's end, else LangChain's, else the last chunk."""
        if self.finished is not None:
            return self.finished
        if self.lc_end is not None:
            return self.lc_end
        return self.chunks[-1].at if self.chunks else None

    @property
    def text_chunks(self) -> list[StreamChunk]:
        return [c for c in self.chunks if c.has_text]

    @property
    def first_chunk(self) -> float | None:
        return self.chunks[0].at if self.chunks else None

    @property
    def first_text(self) -> float | None:
        return next((c.at for c in self.chunks if c.has_text), None)

    @property
    def last_text(self) -> float | None:
        return next((c.at for c in reversed(self.chunks) if c.has_text), None)

    @property
    def usage_chunk(self) -> float | None:
        return next((c.at for c in reversed(self.chunks) if c.usage), None)

    @property
    def attempt(self) -> HttpAttempt | None:
        """The last HTTP attempt: the one whose answer the call got."""
        return self.attempts[-1] if self.attempts else None

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)

    @property
    def ok(self) -> bool:
        return self.outcome is not None and self.outcome.ok

    @property
    def status(self) -> str:
        return self.outcome.status if self.outcome else "running"

    # --- the call's figures: each derived here and nowhere else -----------------------------
    # Computed on read from the marks, so a trace still streaming reads live figures; the
    # definitions are `core.call.metric_definitions.METRIC_DEFINITIONS`.

    @property
    def text(self) -> str:
        """The answer, or what arrived of it (while streaming: the chunks so far)."""
        return self.outcome.text if self.outcome else "".join(c.text for c in self.chunks)

    @property
    def text_times_s(self) -> tuple[float, ...]:
        """Arrival of every chunk with text, in seconds from the origin."""
        return tuple(at - self.origin for at in self.text_times)

    @property
    def usage(self) -> Usage | None:
        """Token counts as the endpoint reported them; None = "not reported", never 0."""
        return self.outcome.usage if self.outcome else None

    @property
    def finish_reason(self) -> str | None:
        return self.outcome.finish_reason if self.outcome else None

    @property
    def model(self) -> str | None:
        """The model the endpoint says answered, else the one requested (None if neither)."""
        answered = self.outcome.model if self.outcome else None
        return answered or self.model_requested or None

    @property
    def problem(self) -> CallProblem | None:
        """What went wrong, explained; None for a call that went well or is still running."""
        return self.outcome.problem if self.outcome else None

    @property
    def text_times(self) -> list[float]:
        """Arrival (perf_counter) of every chunk with text, in order."""
        if self.kept_text_times is not None:
            return list(self.kept_text_times)
        return [c.at for c in self.chunks if c.has_text]

    def compacted(self) -> CallTrace:
        """A copy that keeps this call's figures and anatomy, without its per-chunk detail.

        What a long session keeps of its older calls (`core.money.ledger.SessionLedger`): TTFT, ITL,
        TPOT, e2e, tokens/s and output tokens stay exact (every text chunk's arrival is kept, as
        8 bytes); `marks()` and its anatomy (`core.call.anatomy.anatomy`) stay the same (the first chunk, the first and last
        text chunks, the usage chunk and the one body chunk the anatomy splits at are kept).
        Dropped: the other chunks and their text, body-chunk times, the body's first and last
        bytes; the answer is cut to `COMPACT_TEXT_CHARS` characters. `text_chunks` then holds
        only the kept chunks.

        Example:
            >>> t = CallTrace("r", origin=0.0, finished=1.0, streamed=True,
            ...     chunks=[StreamChunk(0.1, ""), *(StreamChunk(0.2 + i / 10, "ab") for i in range(5))],
            ...     outcome=Outcome(COMPLETE, text="ab" * 5))
            >>> small = t.compacted()
            >>> len(small.chunks), small.output_tokens, small.itl_s == t.itl_s, small.marks() == t.marks()
            (3, 5, True, True)
        """
        if self.kept_text_times is not None:
            return self
        first_text = self.first_text
        named = {id(c) for c in (
            self.chunks[0] if self.chunks else None,
            next((c for c in self.chunks if c.has_text), None),
            next((c for c in reversed(self.chunks) if c.has_text), None),
            next((c for c in reversed(self.chunks) if c.usage), None),
        ) if c is not None}
        last = self.attempt
        attempts = []
        for a in self.attempts:
            split_at = a.last_chunk_at_or_before(first_text) if a is last and first_text is not None else None
            attempts.append(replace(a, chunk_times=[split_at] if split_at is not None else [],
                                    head=b"", tail=b"", reported=dict(a.reported)))
        outcome = self.outcome
        if outcome is not None and len(outcome.text) > COMPACT_TEXT_CHARS:
            outcome = replace(outcome, text=outcome.text[:COMPACT_TEXT_CHARS])
        return replace(
            self, chunks=[c for c in self.chunks if id(c) in named], attempts=attempts,
            outcome=outcome, tags=list(self.tags), kept_text_times=array("d", self.text_times),
        )

    @property
    def ttft_s(self) -> float | None:
        """Time to first token: origin → the first chunk with text (None: no text streamed).

        The one place TTFT is computed (tests/unit/test_trace.py guards that it stays so).

        Example:
            >>> CallTrace("r", origin=1.0, chunks=[StreamChunk(1.1, ""), StreamChunk(1.25, "Hi")]).ttft_s
            0.25
        """
        return self.rel(self.first_text)

    @property
    def e2e_s(self) -> float | None:
        """End-to-end latency: origin → the call's `end` (None while it has none)."""
        return self.rel(self.end)

    @property
    def itl_s(self) -> tuple[float, ...]:
        """Inter-token latencies: each gap between consecutive text chunks."""
        return tuple(b - a for a, b in itertools.pairwise(self.text_times))

    @property
    def token_source(self) -> TokenSource | None:
        """Whether `output_tokens` was reported (usage) or counted (text chunks); None: neither."""
        usage = self.usage
        if usage is not None and usage.output_tokens:
            return TokenSource.USAGE
        return TokenSource.CHUNKS if any(c.has_text for c in self.chunks) else None

    @property
    def usage_reported(self) -> bool:
        return self.token_source is TokenSource.USAGE

    @property
    def output_tokens(self) -> int | None:
        """Output tokens: reported (usage), else text chunks counted, else None."""
        source = self.token_source
        if source is TokenSource.USAGE:
            return self.usage.output_tokens  # type: ignore[union-attr]  # USAGE means usage is set
        return len(self.text_times) if source is TokenSource.CHUNKS else None

    @property
    def tpot_s(self) -> float | None:
        """Time per output token: (e2e − TTFT) / (output tokens − 1); None below 2 tokens."""
        ttft, e2e, tokens = self.ttft_s, self.e2e_s, self.output_tokens
        if ttft is None or e2e is None or tokens is None or tokens < 2:
            return None
        return (e2e - ttft) / (tokens - 1)

    @property
    def output_tokens_per_s(self) -> float | None:
        """(output tokens − 1) / (last text chunk − first text chunk): decode speed, TTFT left out."""
        times, tokens = self.text_times, self.output_tokens
        if tokens is None or tokens < 2 or len(times) < 2:
            return None
        span = times[-1] - times[0]
        return (tokens - 1) / span if span > 0 else None

    def marks(self) -> list[tuple[str, str, float]]:
        """Every named mark as (layer, name, seconds from origin), in time order.

        Example:
            >>> t = CallTrace("r", origin=10.0, lc_start=10.001, lc_end=10.5, finished=10.502)
            >>> [(layer, name) for layer, name, _ in t.marks()]
            [('runner', 'call began'), ('langchain', 'model run started'), ('langchain', 'model run ended'), ('runner', 'call done')]
        """
        found: list[tuple[str, str, float | None]] = [
            ("runner", "call began", self.origin),
            ("langchain", "model run started", self.lc_start),
        ]
        for a in self.attempts:
            n = f" (attempt {a.number})" if len(self.attempts) > 1 else ""
            found += [
                ("http", f"request handed to the client{n}", a.started),
                ("http", f"connection opened{n}", a.connected),
                ("http", f"request sent{n}", a.sent),
                ("http", f"response headers{n}", a.headers),
                ("http", f"first body byte{n}", a.first_byte),
                ("http", f"body ended{n}", a.ended),
            ]
        found += [
            ("stream", "first chunk", self.first_chunk),
            ("stream", "first chunk with text", self.first_text),
            ("stream", "last chunk with text", self.last_text),
            ("stream", "usage chunk", self.usage_chunk),
            ("langchain", "model run failed" if self.outcome and self.outcome.status == FAILED
             else "model run ended", self.lc_end),
            ("runner", "call done", self.finished),
        ]
        stamped = [(layer, name, at - self.origin) for layer, name, at in found if at is not None]
        return sorted(stamped, key=lambda mark: mark[2])
