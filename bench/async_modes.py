"""Async modes: wall time and speed-up of gather / abatch / astream over a sequential loop.

The same five questions, asked the four ways of the Async page, in two situations: the embedded
model directly (CPU-bound: 2 cores shared by every call) and the same model behind the lab's
network proxy holding each request 300 ms (latency-bound, like a hosted API). Modes alternate
within each round so none profits from a warmer cache. Reports medians.

Run: `.venv/bin/python -m bench.async_modes` (or `make bench` for every benchmark).
"""

from __future__ import annotations

from bench.common import median, print_table

QUESTIONS = ("What is AI?", "What is ML?", "What is DL?", "What is NLP?", "What is a GPU?")
MAX_TOKENS = 48
MAX_CONCURRENCY = 2
ROUNDS = 3


def run(rounds: int = ROUNDS) -> list[dict[str, object]]:
    """One row per situation and mode: median wall time, average call, speed-up, peak."""
    from pydantic import SecretStr

    from core.call.models import Endpoint, build_chat_model, resolve_endpoint
    from core.embedded_server import start_embedded_server
    from core.network.conditions import PRESETS
    from core.network.proxy import start_network_proxy
    from core.patterns.concurrency import Mode, run_mode
    from core.settings import ModelSettings, Provider

    server = start_embedded_server()
    proxy = start_network_proxy()
    try:
        settings = ModelSettings(provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS, seed=7)
        direct = resolve_endpoint(settings, server)
        route = proxy.route(direct.base_url, server.api_key, PRESETS["Remote API ~300 ms"], scope="bench")
        remote = Endpoint(
            provider=direct.provider, base_url=route.base_url, model=direct.model,
            api_key=SecretStr(route.key), key_env_var=direct.key_env_var,
        )
        situations = {"embedded (CPU-bound)": direct, "remote +300 ms (latency-bound)": remote}
        samples: dict[tuple[str, Mode], list] = {}
        for name, endpoint in situations.items():
            def build(endpoint: Endpoint = endpoint, **overrides: object):
                return build_chat_model(settings, endpoint, **overrides)

            run_mode(Mode.GATHER, QUESTIONS[:1], build)  # warm up
            for round_no in range(rounds):
                modes = list(Mode) if round_no % 2 == 0 else list(reversed(Mode))
                for mode in modes:
                    result = run_mode(mode, QUESTIONS, build, max_concurrency=MAX_CONCURRENCY)
                    assert not result.failures, result.failures
                    samples.setdefault((name, mode), []).append(result)
    finally:
        proxy.stop()
        server.stop()

    rows: list[dict[str, object]] = []
    for (name, mode), results in samples.items():
        sequential = median(r.wall_s for r in samples[(name, Mode.SEQUENTIAL)])
        wall = median(r.wall_s for r in results)
        rows.append(
            {
                "situation": name,
                "mode": mode.label,
                "runs": len(results),
                "median wall (s)": wall,
                "median average call (s)": median(r.run.mean_e2e_s for r in results),
                "speed-up over sequential": sequential / wall,
                "peak in flight": max(r.peak_in_flight for r in results),
            }
        )
    return rows


def main() -> None:
    print_table(
        f"Async modes: {len(QUESTIONS)} questions, {MAX_TOKENS} tokens max, "
        f"abatch max_concurrency={MAX_CONCURRENCY}",
        run(),
    )


if __name__ == "__main__":
    main()
