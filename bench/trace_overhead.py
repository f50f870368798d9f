"""The cost of tracing: the app's core stream path with its call trace, and the same path without.

Untraced: `ChatOpenAI.stream` through the openai client's own HTTP client, consumed by a bare loop
that stamps the first text chunk and the end — what the stream path was before call traces.
Traced: the app's `StreamCapture` with the session ledger's `CallTracer` and the traced HTTP
client (`core.call.tracing`): every chunk stamped at the HTTP and LangChain layers, llama.cpp's
timings read, the trace kept in the ledger. Both stream the same prompts from the same embedded
server at temperature 0 with a fixed seed (same tokens), alternating which goes first in each
round; the comparison is the median of paired differences and ratios. The client's own CPU per
call is reported too: it does not depend on the model's speed.
Target: traced first token ≤ untraced + 1 ms, traced total ≤ 1.02 × untraced.

Run: `.venv/bin/python -m bench.trace_overhead` (or `make bench` for every benchmark).
"""

from __future__ import annotations

import time

from bench.common import STREAM_PROMPTS as PROMPTS
from bench.common import median, paired_rounds, print_table

MAX_TOKENS = 64
ROUNDS = 7

Sample = tuple[float, float, float]  # first text s, total s, client CPU s


def _untraced(llm, prompt: str) -> Sample:
    cpu_start = time.thread_time()
    start = time.perf_counter()
    first = None
    received = []
    for chunk in llm.stream(prompt):
        received.append(chunk)
        if first is None and chunk.content:
            first = time.perf_counter() - start
    if received:
        received[0] + received[1:]  # the merge StreamCapture does too
    total = time.perf_counter() - start
    return first or float("nan"), total, time.thread_time() - cpu_start


def _traced(llm, prompt: str) -> Sample:
    from core.money.ledger import SessionLedger
    from core.patterns.streaming import StreamCapture

    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="bench", provider="Local")]}
    cpu_start = time.thread_time()
    start = time.perf_counter()
    capture = StreamCapture(llm, prompt, config)
    for _ in capture.text_chunks():
        pass
    total = time.perf_counter() - start
    record = capture.record
    assert record.trace is not None and record.trace.attempts, "the traced path took no HTTP marks"
    return record.trace.ttft_s or float("nan"), total, time.thread_time() - cpu_start


def run(rounds: int = ROUNDS) -> list[dict[str, object]]:
    """Measure both paths in paired rounds; one row per path plus the comparison."""
    from langchain_openai import ChatOpenAI

    from core.call.models import build_chat_model, chat_model_kwargs, resolve_endpoint
    from core.embedded_server import start_embedded_server
    from core.settings import ModelSettings, Provider

    server = start_embedded_server()
    try:
        settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS, seed=7)
        endpoint = resolve_endpoint(settings, server)
        traced_llm = build_chat_model(settings, endpoint)
        # The same settings on the openai client's own HTTP client: nothing of the trace.
        plain_llm = ChatOpenAI(api_key=endpoint.api_key, **chat_model_kwargs(settings, endpoint))
        _untraced(plain_llm, PROMPTS[0])
        _traced(traced_llm, PROMPTS[0])
        plain, traced = paired_rounds(lambda p: _untraced(plain_llm, p), lambda p: _traced(traced_llm, p),
                                      PROMPTS, rounds)
    finally:
        server.stop()

    def row(name: str, samples: list[Sample]) -> dict[str, object]:
        return {
            "path": name,
            "runs": len(samples),
            "median first token (ms)": median(s[0] for s in samples) * 1000,
            "median total (ms)": median(s[1] for s in samples) * 1000,
            "client CPU per call (ms)": median(s[2] for s in samples) * 1000,
        }

    pairs = list(zip(plain, traced, strict=True))
    first_delta = median(t[0] - p[0] for p, t in pairs) * 1000
    total_ratio = median(t[1] / p[1] for p, t in pairs)
    cpu_delta = median(t[2] - p[2] for p, t in pairs) * 1000
    verdict = {
        "path": "traced vs untraced (median of paired runs)",
        "runs": len(pairs),
        "median first token (ms)": f"{first_delta:+.2f} ms (target ≤ +1)",
        "median total (ms)": f"× {total_ratio:.3f} (target ≤ 1.02)",
        "client CPU per call (ms)": f"{cpu_delta:+.2f} ms",
    }
    return [row("untraced (openai's own client, bare loop)", plain),
            row("traced (StreamCapture + CallTracer + traced client)", traced), verdict]


def main() -> None:
    print_table("The cost of tracing on the embedded model", run())


if __name__ == "__main__":
    main()
