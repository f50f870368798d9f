"""Where a call's time went: its trace's marks split into consecutive segments that add up to its total.

Each segment spans two measured marks of a `core.call.trace.CallTrace`, or divides one span by what a
server or proxy reported (llama.cpp's ``timings``, the proxy's injected waits); whatever cannot
be attributed is a segment of its own, named as such. Pure arithmetic on recorded marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a trace is what the anatomy reads; core.call.trace imports this module lazily
    from core.call.trace import CallTrace

@dataclass(frozen=True)
class Segment:
    """A stretch of one call's time.

    Attributes:
        name: what it is, as a person would say it.
        layer: who measured it ("runner", "langchain", "client", "network", "proxy", "server",
            "unattributed").
        start_s / end_s: seconds from the call's origin.
        how: one sentence: what it is and how it was measured.
        before_first_text: it lies before the first text (part of TTFT).
    """

    name: str
    layer: str
    start_s: float
    end_s: float
    how: str
    before_first_text: bool

    @property
    def ms(self) -> float:
        return (self.end_s - self.start_s) * 1000.0


@dataclass(frozen=True)
class Anatomy:
    """A call split into consecutive segments: they add up to its TTFT and its total.

    Attributes:
        segments: in time order, without gaps or overlaps.
        ttft_s: the measured time to first text (None for a call that produced none).
        total_s: the measured end-to-end time.
        server_timings: whether the server reported its own split (prefill/decode).
    """

    segments: tuple[Segment, ...]
    ttft_s: float | None
    total_s: float
    server_timings: bool

    def to_first_text_ms(self) -> float:
        return sum(s.ms for s in self.segments if s.before_first_text)

    def total_ms(self) -> float:
        return sum(s.ms for s in self.segments)


class _Builder:
    """Lays segments end to end from the origin; each `to` closes one at a measured mark."""

    def __init__(self, trace: CallTrace, first_text_at: float | None) -> None:
        self.trace = trace
        self.cursor = trace.origin
        self.first_text_at = first_text_at
        self.segments: list[Segment] = []

    def to(self, moment: float | None, name: str, layer: str, how: str) -> None:
        if moment is None or moment <= self.cursor:
            return
        before = self.first_text_at is not None and moment <= self.first_text_at
        self.segments.append(
            Segment(name, layer, self.cursor - self.trace.origin, moment - self.trace.origin, how, before)
        )
        self.cursor = moment

    def split(self, until: float | None, parts: list[tuple[str, str, float, str]], rest: tuple[str, str, str]) -> None:
        """Divide the span up to `until` by reported durations (ms), then the remainder.

        Reported parts are laid in order and never past `until`: a report larger than the span
        it belongs to is cut to fit and says so, so the segments still add up to what was
        measured.
        """
        if until is None or until <= self.cursor:
            return
        for name, layer, ms, how in parts:
            room = (until - self.cursor) * 1000.0
            if ms <= 0 or room <= 0:
                continue
            if ms > room + 0.05:
                how += f" (reported {ms:.1f} ms; only {room:.1f} ms were observed here)"
            self.to(self.cursor + min(ms, room) / 1000.0, name, layer, how)
        self.to(until, *rest)


def anatomy(trace: CallTrace) -> Anatomy | None:
    """Where the time of one call went, from its origin to its end.

    The boundaries are measured marks: the runner's start, LangChain's run start, the HTTP
    client's request, connection, send, headers and body chunks, LangChain's chunks and end,
    the runner's end. The wait between sending the request and the first text arriving is
    divided by what the proxy and the server reported (held, queued, prefill, first-token
    decode); what is left is "not attributed". Returns None for a trace with no end.

    Example:
        >>> from core.call.trace import CallTrace, HttpAttempt, ServerReport, StreamChunk
        >>> t = CallTrace("r", origin=0.0, lc_start=0.002, lc_end=0.200, finished=0.201,
        ...     streamed=True, chunks=[StreamChunk(0.100, "Hi"), StreamChunk(0.150, "!")],
        ...     attempts=[HttpAttempt(1, 0.004, sent=0.005, headers=0.010, first_byte=0.011,
        ...               ended=0.199, chunk_times=[0.011, 0.099, 0.149, 0.198])],
        ...     server=ServerReport("llama.cpp timings", prompt_tokens=30, prompt_ms=60.0,
        ...                         predicted_tokens=4, predicted_ms=80.0))
        >>> a = anatomy(t)
        >>> round(a.to_first_text_ms(), 3), round(a.total_ms(), 3)
        (100.0, 201.0)
    """
    end = trace.end
    if end is None:
        return None
    first_text = trace.first_text
    b = _Builder(trace, first_text)
    b.to(
        trace.lc_start, "LangChain: before the model run", "langchain",
        "From the runner's call to LangChain's on_chat_model_start: config, callbacks, "
        "input conversion (runner clock → LangChain callback).",
    )
    attempts = trace.attempts
    if not attempts:
        b.to(
            first_text if first_text is not None else end,
            "Model call (no HTTP marks)", "unattributed",
            "No HTTP request was seen by the traced client (a fake model, a cache hit, or a "
            "client the lab did not build), so this span cannot be split further.",
        )
        b.to(end, "Rest of the call", "unattributed", "After the first text, without HTTP marks.")
        return _finish(trace, b, first_text, end)
    first, last = attempts[0], attempts[-1]
    b.to(
        first.started, "Client: building the request", "client",
        "From LangChain's run start to the HTTP client being handed the request: the openai "
        "client builds and validates it (LangChain callback → transport).",
    )
    if len(attempts) > 1:
        b.to(
            last.started, f"Earlier attempts and back-off ({len(attempts) - 1} retr"
            f"{'y' if len(attempts) == 2 else 'ies'})", "client",
            "Failed attempts and the client's waits between them (max_retries), from the first "
            "request to the one that answered (transport marks).",
        )
    if last.connect_started is not None:
        b.to(last.connect_started, "Client: connection pool", "client",
             "Finding a connection in the pool (transport marks).")
        b.to(last.connected, "Connect", "network",
             "Opening a new TCP (and TLS) connection; a reused connection has none "
             "(httpcore's connect events).")
    b.to(last.sent, "Send the request", "network",
         "Writing the request headers and body to the socket (httpcore's send events).")
    server = trace.server
    proxy = trace.proxy
    waits: list[tuple[str, str, float, str]] = []
    if proxy is not None:
        waits.append(("Proxy: rate-limit queue", "proxy", proxy.queued_ms,
                      "The lab's network proxy held the request for a free slot (its own report, "
                      "x-lab-proxy-queued-ms)."))
        waits.append(("Proxy: simulated latency", "proxy", proxy.held_ms,
                      "The lab's network proxy held the request before forwarding it, as a remote "
                      "API's network would (its own report, x-lab-proxy-held-ms)."))
    # The span from "sent" to the first text (streams) or to the headers (whole answers).
    wait_until = first_text if first_text is not None else last.headers
    arrival = last.last_chunk_at_or_before(first_text) if first_text is not None else None
    if server is not None and server.prompt_ms is not None:
        cached = f", {server.cached_tokens} more reused from its cache" if server.cached_tokens else ""
        waits.append((
            f"Server: prefill ({server.prompt_tokens} prompt tokens{cached})", "server",
            server.prompt_ms, "The server reading the prompt before generating (llama.cpp "
            "timings.prompt_ms, its own clock).",
        ))
        if first_text is not None and server.first_token_ms is not None:
            waits.append(("Server: first-token decode", "server", server.first_token_ms,
                          "Generating the first token (llama.cpp timings: predicted_ms / "
                          "predicted_n, the average per token)."))
        elif first_text is None and server.predicted_ms is not None:
            waits.append((f"Server: decode ({server.predicted_tokens} tokens)", "server",
                          server.predicted_ms, "Generating the whole answer before sending it "
                          "(llama.cpp timings.predicted_ms)."))
        rest = ("Server queue, network and framing (not attributed)", "unattributed",
                "What is left of the wait once the server's and proxy's own reports are taken "
                "out: queueing for a slot, loopback/network transfer, SSE framing.")
    elif server is not None and server.processing_ms is not None:
        waits.append(("Server: processing (one figure)", "server", server.processing_ms,
                      "The endpoint's own total (openai-processing-ms header): it gives no "
                      "prefill/decode split."))
        rest = ("Network and queueing (not attributed)", "unattributed",
                "The rest of the wait: network round trip and the provider's front end.")
    else:
        rest = ("Server (reports no timings)", "server",
                "The endpoint reports no timings of its own, so its queue, prefill and decode "
                "are one segment: request sent → first text arrived (transport marks).")
    b.split(arrival if arrival is not None else wait_until, waits, rest)
    if first_text is not None:
        b.to(first_text, "Client: parsing the first chunk", "client",
             "From the body chunk carrying the first text arriving to LangChain handing it on: "
             "SSE decoding, JSON parsing, message building (transport → callback).")
        rest_decode = ""
        if server is not None and server.predicted_ms is not None and server.first_token_ms is not None:
            rest_decode = f" The server reported {server.predicted_ms - server.first_token_ms:.0f} ms of decode for it."
        b.to(trace.last_text, "Rest of the answer streaming in", "server",
             "From the first text to the last, as LangChain produced the chunks: decode on the "
             "server, passed on chunk by chunk." + rest_decode)
        b.to(last.ended, "Final chunks (finish reason, usage)", "network",
             "After the last text: the finish-reason and usage chunks and the end of the body "
             "(transport marks).")
    else:
        b.to(last.ended, "Download the body", "network",
             "Reading the response body after its headers (transport marks).")
    b.to(trace.lc_end, "Client: finishing the run", "client",
         "From the end of the body to LangChain's on_llm_end: parsing, merging, callbacks.")
    b.to(end, "Runner: after the model run", "runner",
         "From LangChain's end to the runner being done with the call (runner clock).")
    return _finish(trace, b, first_text, end)


def _finish(trace: CallTrace, b: _Builder, first_text: float | None, end: float) -> Anatomy:
    return Anatomy(
        segments=tuple(b.segments),
        ttft_s=trace.ttft_s,
        total_s=end - trace.origin,
        server_timings=trace.server is not None and trace.server.prompt_ms is not None,
    )
