"""Open-loop load against the real embedded model: traced streamed calls, the cap, the server's view.

Structure only (how many, what was observed, what the server reported), never how long: the
machine is shared.
"""

from __future__ import annotations

from core.call.models import build_chat_model
from core.call.stats import Slo
from core.patterns.load import Arrival, LoadSpec
from core.patterns.load_sweep import ServerTarget, level_row, run_sweep
from core.settings import ModelSettings


def builder(settings: ModelSettings, endpoint):
    """`build_llm` for run_sweep: a fresh ChatOpenAI with the loop's client; no retries to hide errors."""
    return lambda **overrides: build_chat_model(settings, endpoint, **overrides)


def test_a_short_sweep_streams_every_request_and_reads_the_servers_own_queue(
    embedded_server, local_settings: ModelSettings, local_endpoint
) -> None:
    build = builder(local_settings.with_changes(max_tokens=4, max_retries=0), local_endpoint)
    server = ServerTarget(embedded_server.base_url.removesuffix("/v1"), embedded_server.api_key)
    spec = LoadSpec(4.0, Arrival.POISSON, requests=4, seed=1)
    sweep = run_sweep([4.0, 8.0], spec, ["What is AI?", "Say hi."], build, server=server)

    assert [lv.spec.rate_per_s for lv in sweep.levels] == [4.0, 8.0] and not sweep.stopped
    for level in sweep.levels:
        run = level.run
        assert level.sent == 4 and run.count == 4 and run.succeeded == 4
        # Each request one streamed call, its figures derived by its trace from the HTTP client.
        assert all(t.ttft_s is not None and t.attempts and t.usage is not None for t in run)
        assert all(t.server is not None for t in run)  # llama.cpp's own timings rode along
        assert level.achieved_rate_per_s is not None
        view = level.server
        assert view.samples, view.note
        assert {"processing", "deferred", "slots_busy", "slot_capacity"} <= set(view.reported)
        assert "kv_cache_usage" not in view.reported  # this build has no KV gauge: never made up
        row = level_row(level, Slo(ttft_ms=60_000))
        assert row["goodput_share"] == 1.0 and row["output_tokens_per_s"] > 0


def test_the_cap_keeps_calls_in_flight_at_most_at_the_cap(local_settings: ModelSettings, local_endpoint) -> None:
    build = builder(local_settings.with_changes(max_tokens=4, max_retries=0), local_endpoint)
    sweep = run_sweep([20.0], LoadSpec(20.0, Arrival.CONSTANT, requests=4, max_in_flight=1), ["Hi"], build)
    level = sweep.levels[0]
    assert level.run.succeeded == 4 and level.run.peak_in_flight == 1
    assert level.server.note.startswith("not reported")  # no llama root given, no headers sent
    assert level.requests[-1].cap_wait_s > 0
