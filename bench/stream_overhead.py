"""Streaming overhead: the raw `openai` SDK stream vs. the app's core stream path.

Both stream the same prompts from the same embedded llama.cpp server at temperature 0 with a
fixed seed, so they generate the same tokens; runs alternate between the two paths so neither
profits from a warmer cache. Reports medians of time to first token and total time, and the
comparison as the median of paired differences and ratios (the raw and core run of the same
prompt in the same round), which cancels the spread between prompts. Also the client's own CPU
time per call (the consuming thread's), the part of the overhead that does not depend on the
model's speed. Target: core total ≤ 1.05 × raw, core first token ≤ raw + 20 ms.

Run: `.venv/bin/python -m bench.stream_overhead` (or `make bench` for every benchmark).
"""

from __future__ import annotations

import time

from bench.common import STREAM_PROMPTS as PROMPTS
from bench.common import median, paired_rounds, print_table

MAX_TOKENS = 64
ROUNDS = 5


Sample = tuple[float, float, int, float]  # first token s, total s, text chunks, client CPU s


def raw_stream(client, model: str, prompt: str) -> Sample:
    """Time to first text and total seconds through the bare openai SDK."""
    cpu_start = time.thread_time()
    start = time.perf_counter()
    first = None
    pieces = 0
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces += 1
            if first is None:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    return first or float("nan"), total, pieces, time.thread_time() - cpu_start


def _core_stream(llm, prompt: str) -> Sample:
    """The app's path: ChatOpenAI.stream wrapped by StreamCapture, with the ledger callback."""
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
    return record.trace.ttft_s or float("nan"), total, record.chunk_count, time.thread_time() - cpu_start


def run(rounds: int = ROUNDS) -> list[dict[str, object]]:
    """Measure both paths; return one row per path plus a comparison row."""
    from openai import OpenAI

    from core.call.models import build_chat_model, resolve_endpoint
    from core.embedded_server import start_embedded_server
    from core.settings import ModelSettings, Provider

    server = start_embedded_server()
    try:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key)
        settings = ModelSettings(
            provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS, seed=7
        )
        llm = build_chat_model(settings, resolve_endpoint(settings, server))
        # Warm both paths (model pages, HTTP connections, imports) before measuring.
        raw_stream(client, server.model_name, PROMPTS[0])
        _core_stream(llm, PROMPTS[0])
        raw, core = paired_rounds(lambda p: raw_stream(client, server.model_name, p),
                                  lambda p: _core_stream(llm, p), PROMPTS, rounds)
    finally:
        server.stop()

    def row(name: str, samples: list[Sample]) -> dict[str, object]:
        return {
            "path": name,
            "runs": len(samples),
            "median first token (ms)": median(s[0] for s in samples) * 1000,
            "median total (ms)": median(s[1] for s in samples) * 1000,
            "median text chunks": median(s[2] for s in samples),
            "client CPU per call (ms)": median(s[3] for s in samples) * 1000,
        }

    pairs = list(zip(raw, core, strict=True))
    first_delta = median(c[0] - r[0] for r, c in pairs) * 1000
    total_ratio = median(c[1] / r[1] for r, c in pairs)
    cpu_delta = median(c[3] - r[3] for r, c in pairs) * 1000
    verdict = {
        "path": "core vs raw (median of paired runs)",
        "runs": len(pairs),
        "median first token (ms)": f"{first_delta:+.1f} ms (target ≤ +20)",
        "median total (ms)": f"× {total_ratio:.3f} (target ≤ 1.05)",
        "median text chunks": "",
        "client CPU per call (ms)": f"{cpu_delta:+.1f} ms",
    }
    return [row("raw openai SDK", raw), row("app core (StreamCapture)", core), verdict]


def main() -> None:
    print_table("Streaming overhead on the embedded model", run())


if __name__ == "__main__":
    main()
