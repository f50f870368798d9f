"""Streaming events: events captured per second, and what the recorder costs over a bare loop.

Each mode runs the same chain (prompt → model → parser) several times, interleaved so machine
noise hits every mode alike, and reports medians:

- bare: `async for event in chain.astream_events(...)`, counting only;
- recorder: the same loop through `EventRecorder.awatch` (stamp, summary, bookkeeping);
- recorder, stepped: what the page does — `stream_events` drives a fresh event loop one event
  at a time from synchronous code, `EventRecorder.watch` records.

"ratio" is a mode's median run time over the bare loop's. On the embedded model the model's own
time dominates, so the same three modes also run on a fake chat model (no network, no model):
there the ratio isolates the recorder's cost against LangChain's own event machinery. The last
row replays recorded events through a fresh recorder: its cost per event, alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.common import median, print_table

RUNS = 7
MAX_TOKENS = 64
INPUTS = {"topic": "cats"}


def _modes(make_chain: Callable[[], tuple[Any, Any]]) -> dict[str, Callable[[], tuple[float, int]]]:
    """Each mode: run once, return (seconds, events)."""
    from core.patterns.events import EventRecorder, stream_events

    def bare() -> tuple[float, int]:
        chain, http = make_chain()

        async def go() -> int:
            n = 0
            async for _ in chain.astream_events(INPUTS, version="v2"):
                n += 1
            if http is not None:
                await http.aclose()
            return n

        start = time.perf_counter()
        n = asyncio.run(go())
        return time.perf_counter() - start, n

    def recorder() -> tuple[float, int]:
        chain, http = make_chain()
        rec = EventRecorder()

        async def go() -> None:
            async for _ in rec.awatch(chain.astream_events(INPUTS, version="v2")):
                pass
            if http is not None:
                await http.aclose()

        start = time.perf_counter()
        asyncio.run(go())
        assert rec.ok, rec.error
        return time.perf_counter() - start, len(rec.events)

    def stepped() -> tuple[float, int]:
        chain, http = make_chain()
        rec = EventRecorder()
        start = time.perf_counter()
        for _ in rec.watch(stream_events(chain, INPUTS, http_clients=(http,) if http else ())):
            pass
        assert rec.ok, rec.error
        return time.perf_counter() - start, len(rec.events)

    return {"bare astream_events": bare, "recorder (awatch)": recorder,
            "recorder, stepped (page)": stepped}


def _measure(label: str, make_chain: Callable[[], tuple[Any, Any]]) -> list[dict[str, object]]:
    modes = _modes(make_chain)
    modes["bare astream_events"]()  # warm-up: first call loads prompt caches and imports
    times: dict[str, list[float]] = {name: [] for name in modes}
    counts: dict[str, list[int]] = {name: [] for name in modes}
    for _ in range(RUNS):
        for name, run_once in modes.items():
            seconds, events = run_once()
            times[name].append(seconds)
            counts[name].append(events)
    bare = median(times["bare astream_events"])
    rows = []
    for name in modes:
        med = median(times[name])
        events = median(counts[name])
        rows.append(
            {
                "chain": label,
                "mode": name,
                "runs": RUNS,
                "events/run": int(events),
                "median s": med,
                "events/s": events / med,
                "ratio vs bare": med / bare,
            }
        )
    return rows


def _replay_cost(make_chain: Callable[[], tuple[Any, Any]]) -> dict[str, object]:
    """Microseconds per event for the recorder alone, replaying one run's raw events."""
    from core.patterns.events import EventRecorder

    chain, http = make_chain()

    async def collect() -> list[dict[str, Any]]:
        events = [e async for e in chain.astream_events(INPUTS, version="v2")]
        if http is not None:
            await http.aclose()
        return events

    raw = asyncio.run(collect())
    per_event = []
    for _ in range(RUNS):
        rec = EventRecorder()
        rec.start()
        start = time.perf_counter()
        for event in raw:
            rec.record(event)
        per_event.append((time.perf_counter() - start) / len(raw))
    return {
        "chain": "replay of one embedded-model run",
        "mode": "EventRecorder.record alone",
        "runs": RUNS,
        "events/run": len(raw),
        "median s": None,  # per event, not per run: see µs/event
        "events/s": 1 / median(per_event),
        "µs/event": median(per_event) * 1e6,
    }


def run() -> list[dict[str, object]]:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from core.call.models import build_chat_model, resolve_endpoint
    from core.embedded_server import start_embedded_server
    from core.patterns.events import build_chain, fresh_async_http_client
    from core.settings import ModelSettings, Provider

    server = start_embedded_server()
    try:
        settings = ModelSettings(
            provider=Provider.LOCAL, temperature=0.0, max_tokens=MAX_TOKENS, seed=7
        )
        endpoint = resolve_endpoint(settings, server)

        def embedded_chain() -> tuple[Any, Any]:
            http = fresh_async_http_client()
            llm = build_chat_model(settings, endpoint, http_async_client=http)
            return build_chain("joke", llm), http

        answer = " ".join(f"word{i}" for i in range(MAX_TOKENS))

        def fake_chain() -> tuple[Any, Any]:
            fake = GenericFakeChatModel(messages=iter([AIMessage(content=answer)]))
            return build_chain("joke", fake), None

        rows = _measure(f"embedded SmolLM2, {MAX_TOKENS} tokens", embedded_chain)
        rows += _measure(f"fake model, {MAX_TOKENS} words", fake_chain)
        rows.append(_replay_cost(embedded_chain))
        return rows
    finally:
        server.stop()


if __name__ == "__main__":
    print_table("Streaming events: capture rate and recorder overhead", run())
