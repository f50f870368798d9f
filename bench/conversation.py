"""A ten-turn conversation on the embedded model: TTFT at turn 10 ÷ turn 1, with the prompt cache and without.

The conversation is held through the Chat page's core path (`plan_turn` + `TurnStream`, keeping the
whole history, the ledger's tracer), then every turn's exact prompt is sent again, one after the
other, with llama.cpp's `cache_prompt: false` (`replay_without_cache`): the same input tokens, only
the cache differs. TTFT is each call trace's; prefill is llama.cpp's own `timings.prompt_ms`.
What the page claims, measured without the browser: with the cache the tenth turn's first token
comes about as soon as the first's; without it, it grows with the history.
Target: with the cache, turn 10 ÷ turn 1 TTFT ≤ 1.5; without, above the cached ratio.

Run: `.venv/bin/python -m bench.conversation` (or `make bench` for every benchmark).
"""

from __future__ import annotations

from bench.common import print_table

QUESTIONS = (
    "My name is Ada and I live in Paris. Say hello.",
    "Name three colours.",
    "What is 12 times 12?",
    "Give me a word that rhymes with cat.",
    "Name a planet.",
    "What is the capital of Italy?",
    "Name two fruits.",
    "What season comes after winter?",
    "Name an animal that lives in the sea.",
    "What is my name, and where do I live?",
)
MAX_TOKENS = 48


def run() -> list[dict[str, object]]:
    """Hold the conversation, replay it with the cache off; one row per side and turn 1 / turn 10."""
    from core.call.models import build_chat_model, resolve_endpoint
    from core.embedded_server import start_embedded_server
    from core.money.ledger import SessionLedger
    from core.patterns.chat_history import (
        HistoryPolicy,
        TurnStream,
        cache_switch,
        counter_for,
        plan_turn,
        replay_without_cache,
    )
    from core.patterns.conversation import Conversation, call_figures, read_context_window
    from core.settings import ModelSettings, Provider

    server = start_embedded_server()
    try:
        settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS, seed=7)
        endpoint = resolve_endpoint(settings, server)
        config = {"callbacks": [SessionLedger().callback(pattern="bench", provider="Local")]}
        conv = Conversation(window=read_context_window(endpoint))
        counter = counter_for(endpoint)
        for question in QUESTIONS:
            plan = plan_turn(conv, question, HistoryPolicy(), counter)
            for _ in TurnStream(conv, question, plan, build_chat_model(settings, endpoint), config).text_chunks():
                pass
        cached = conv.figures(None)
        off_llm = build_chat_model(settings, endpoint, extra_body=cache_switch(endpoint).extra_body)
        uncached = [call_figures(n, t, None, conv.window)
                    for n, t in enumerate(replay_without_cache(conv, off_llm, config), start=1)]
    finally:
        server.stop()
    rows: list[dict[str, object]] = []
    for label, figures in (("with the cache", cached), ("cache off (cache_prompt: false)", uncached)):
        first, last = figures[0], figures[-1]
        ratio = (last.ttft_s / first.ttft_s) if first.ttft_s and last.ttft_s else None
        rows.append({
            "run": label,
            "input tokens t1 / t10": f"{first.input.total} / {last.input.total}",
            "cached t10": last.input.cached,
            "prefill ms t1 / t10": f"{first.prefill_ms:.0f} / {last.prefill_ms:.0f}"
            if first.prefill_ms is not None and last.prefill_ms is not None else "not reported",
            "TTFT ms t1 / t10": f"{first.ttft_s * 1000:.0f} / {last.ttft_s * 1000:.0f}"
            if first.ttft_s is not None and last.ttft_s is not None else "—",
            "TTFT t10 ÷ t1": None if ratio is None else round(ratio, 2),
            "target": "≤ 1.5" if label == "with the cache" else "> the cached ratio",
        })
    return rows


if __name__ == "__main__":
    print_table("Conversation: TTFT at turn 10 ÷ turn 1, with and without the prompt cache", run())
