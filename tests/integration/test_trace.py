"""The call trace: its maths on recorded marks, and what the traced client really records.

The maths is checked on marks written by hand (a streamed call, a whole answer, a call through
the proxy, one with retries, one with no HTTP marks), so each rule can fail on its own. The
recording is checked against the HTTP fake in tests/ — real sockets, the real `ChatOpenAI` and
openai client — for the outcomes a user must be told about: a stream that ends without a finish
reason, and HTTP 200 answers that are not chat completions.
"""

from __future__ import annotations

from core.call.anatomy import anatomy
from core.patterns.streaming import StreamCapture, timed_invoke


def _streamed(llm):
    capture = StreamCapture(llm, "hi")
    list(capture.text_chunks())
    return capture.record


def test_the_embedded_servers_own_prefill_and_decode_timings_reach_the_trace(local_llm) -> None:
    streamed = _streamed(local_llm)
    waited = timed_invoke(local_llm, "hi")
    for record in (streamed, waited):
        trace = record.trace
        assert record.ok and trace is not None
        server = trace.server
        assert server is not None and server.source == "llama.cpp timings"
        assert server.prompt_ms is not None and server.prompt_ms > 0
        # llama.cpp counts the prompt it processed plus what it reused from its cache.
        assert (server.prompt_tokens or 0) + (server.cached_tokens or 0) == record.usage.input_tokens
        assert server.predicted_tokens == record.usage.output_tokens
        parts = anatomy(trace)
        assert parts is not None and parts.server_timings
        assert any(s.name.startswith("Server: prefill") for s in parts.segments)
