"""Embedded model throughput through the app vs. llama.cpp's own reported speed.

For each prompt, the app's core stream path (StreamCapture over ChatOpenAI) measures tokens per
second from chunk arrival times; the same request (same seed, temperature 0, so the same tokens)
sent straight to the server returns llama.cpp's own `timings.predicted_per_second` in its final
chunk. The ratio says how much of the model's real speed the app's measurement shows.
Target: ≥ 0.9.

Run: `.venv/bin/python -m bench.throughput`.
"""

from __future__ import annotations

import json

import httpx

from bench.common import median, print_table
from bench.stream_overhead import MAX_TOKENS, PROMPTS

ROUNDS = 3


def _server_timings(server, prompt: str) -> float:
    """llama.cpp's own generation speed (tokens/s) for this request."""
    body = {
        "model": server.model_name,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": MAX_TOKENS, "temperature": 0, "seed": 7, "stream": True,
        "stream_options": {"include_usage": True},
    }
    speed = float("nan")
    with httpx.stream(
        "POST", f"{server.base_url}/chat/completions", json=body, timeout=120,
        headers={"Authorization": f"Bearer {server.api_key}"},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                timings = json.loads(line[6:]).get("timings")
                if timings:
                    speed = float(timings["predicted_per_second"])
    return speed


def run(rounds: int = ROUNDS) -> list[dict[str, object]]:
    from core.call.models import build_chat_model, resolve_endpoint
    from core.embedded_server import start_embedded_server
    from core.patterns.streaming import StreamCapture
    from core.settings import ModelSettings, Provider

    server = start_embedded_server()
    try:
        settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS, seed=7)
        llm = build_chat_model(settings, resolve_endpoint(settings, server))
        app_speeds, server_speeds = [], []
        _server_timings(server, PROMPTS[0])  # warm-up
        for _ in range(rounds):
            for prompt in PROMPTS:
                capture = StreamCapture(llm, prompt)
                for _ in capture.text_chunks():
                    pass
                if capture.record.trace.output_tokens_per_s:
                    app_speeds.append(capture.record.trace.output_tokens_per_s)
                server_speeds.append(_server_timings(server, prompt))
    finally:
        server.stop()
    app_tps, server_tps = median(app_speeds), median(server_speeds)
    return [
        {"measure": "tokens/s measured by the app (chunk arrivals)", "value": round(app_tps, 1), "runs": len(app_speeds)},
        {"measure": "tokens/s reported by llama.cpp (timings)", "value": round(server_tps, 1), "runs": len(server_speeds)},
        {"measure": "ratio app / llama.cpp (target ≥ 0.9)", "value": round(app_tps / server_tps, 3), "runs": ""},
    ]


def main() -> None:
    print_table("Embedded model throughput", run())


if __name__ == "__main__":
    main()
