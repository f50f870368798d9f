"""Open-loop load: the schedule (seeded, its statistics), the bounds, the cap, Stop, failures,
the sweep's knee and the server's view — on fakes, so each rule fails on its own.

The runner tests use the real event loop and clock with fast fakes (tens of milliseconds), and
assert structure (how many, in what order, what was cancelled), never durations beyond coarse
upper bounds.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from core.call.errors import CallProblem
from core.call.stats import Slo
from core.call.trace import COMPLETE, FAILED, CallTrace, HttpAttempt, Outcome, StreamChunk
from core.call.usage import Usage
from core.patterns.load import (
    MAX_DURATION_S,
    MAX_RATE_PER_S,
    Arrival,
    LoadRequest,
    LoadRun,
    LoadSpec,
    LoadSpecError,
    arrival_offsets,
    coefficient_of_variation,
    run_load,
)
from core.patterns.load_sweep import knee, level_row, parse_rates, saturation
from core.patterns.server_view import header_view, llama_values, parse_prometheus

# --- the schedule ------------------------------------------------------------------------------


def gaps(offsets: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(offsets)]


def test_constant_arrivals_are_evenly_spaced_from_time_zero() -> None:
    assert arrival_offsets(LoadSpec(4.0, Arrival.CONSTANT, requests=5)) == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_the_same_seed_gives_the_same_arrivals_and_another_seed_others() -> None:
    one = arrival_offsets(LoadSpec(5.0, requests=50, seed=7))
    assert one == arrival_offsets(LoadSpec(5.0, requests=50, seed=7))
    assert one != arrival_offsets(LoadSpec(5.0, requests=50, seed=8))


def test_poisson_gaps_have_the_target_mean_and_a_coefficient_of_variation_of_one() -> None:
    offsets = arrival_offsets(LoadSpec(5.0, Arrival.POISSON, requests=2000, seed=1))
    g = gaps(offsets)
    assert sum(g) / len(g) == pytest.approx(1 / 5.0, rel=0.05)
    assert coefficient_of_variation(g) == pytest.approx(1.0, abs=0.07)


@pytest.mark.parametrize(("shape", "cov"), [(0.25, 2.0), (4.0, 0.5)])
def test_gamma_shape_sets_the_burstiness_at_the_same_mean(shape: float, cov: float) -> None:
    g = gaps(arrival_offsets(LoadSpec(2.0, Arrival.GAMMA, burstiness=shape, requests=2000, seed=3)))
    assert sum(g) / len(g) == pytest.approx(0.5, rel=0.08)
    assert coefficient_of_variation(g) == pytest.approx(cov, rel=0.12)


def test_never_more_than_the_count_and_never_an_arrival_at_or_past_the_duration() -> None:
    assert len(arrival_offsets(LoadSpec(50.0, requests=7))) == 7
    by_time = arrival_offsets(LoadSpec(20.0, Arrival.CONSTANT, requests=None, duration_s=0.3))
    assert len(by_time) == 6 and max(by_time) < 0.3
    both = arrival_offsets(LoadSpec(20.0, Arrival.CONSTANT, requests=3, duration_s=10))
    assert len(both) == 3  # whichever bound comes first


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"rate_per_s": 0}, "more than 0"),
        ({"rate_per_s": -1}, "more than 0"),
        ({"rate_per_s": math.nan}, "more than 0"),
        ({"rate_per_s": MAX_RATE_PER_S + 1}, "ceiling"),
        ({"rate_per_s": 1, "requests": None, "duration_s": None}, "never stops"),
        ({"rate_per_s": 1, "requests": None, "duration_s": MAX_DURATION_S + 1}, "at most"),
        ({"rate_per_s": 1, "duration_s": 0}, "more than 0 seconds"),
        ({"rate_per_s": 1, "requests": 0}, "between 1 and"),
        ({"rate_per_s": 1, "max_in_flight": 0}, "at least 1"),
        ({"rate_per_s": 1, "arrival": Arrival.GAMMA, "burstiness": 0}, "Burstiness"),
    ],
)
def test_a_load_the_lab_will_not_run_gets_a_message_that_says_what_to_change(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(LoadSpecError, match=says):
        LoadSpec(**kwargs)


def test_rates_typed_for_a_sweep_are_sorted_and_checked() -> None:
    assert parse_rates("8 0.5, 2;1 2") == [0.5, 1.0, 2.0, 8.0]
    for bad, says in (("", "at least one"), ("1, fast", "not a rate"), ("0, 1", "more than 0"),
                      ("1 2 3 4 5 6 7 8 9", "At most"), ("100", "ceiling")):
        with pytest.raises(LoadSpecError, match=says):
            parse_rates(bad)


# --- the runner, on a fake model -----------------------------------------------------------------


class SlowFake(BaseChatModel):
    """Streams "a b" after `delay_s`; every `fail_every`-th call raises instead."""

    delay_s: float = 0.05
    fail_every: int = 0
    started: int = 0

    @property
    def _llm_type(self) -> str:
        return "slow-fake"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        raise NotImplementedError

    async def _astream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                       **kw: Any) -> AsyncIterator[ChatGenerationChunk]:
        self.started += 1
        number = self.started
        await asyncio.sleep(self.delay_s)
        if self.fail_every and number % self.fail_every == 0:
            raise RuntimeError("connection reset by the fake")
        for token in ("a", " b"):
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))


def test_every_request_is_one_traced_streamed_call_and_the_rate_is_reported() -> None:
    fake = SlowFake(delay_s=0.01)
    load = asyncio.run(run_load(fake, ["q1", "q2"], LoadSpec(40.0, Arrival.CONSTANT, requests=8)))
    assert load.sent == 8 and fake.started == 8 and not load.stopped
    assert [r.prompt for r in load.requests[:3]] == ["q1", "q2", "q1"]  # prompts cycle
    assert all(r.trace is not None and r.trace.ttft_s is not None and r.state == COMPLETE for r in load.requests)
    assert [r.scheduled_s for r in load.requests] == pytest.approx([i / 40 for i in range(8)])
    assert all(r.released_s >= r.scheduled_s for r in load.requests)  # never early
    assert load.achieved_rate_per_s == pytest.approx(40.0, rel=0.5)  # 8 arrivals on a shared machine
    assert load.run.count == 8 and load.run.succeeded == 8


def test_the_cap_holds_requests_in_the_client_queue_and_says_how_long() -> None:
    fake = SlowFake(delay_s=0.15)
    load = asyncio.run(run_load(fake, ["q"], LoadSpec(50.0, Arrival.CONSTANT, requests=6, max_in_flight=2)))
    assert load.run.peak_in_flight == 2
    waits = [r.cap_wait_s for r in load.requests]
    assert waits[0] == pytest.approx(0, abs=0.02)
    assert waits[-1] > 0.1  # the 6th waited for two rounds of calls to end
    # A call's TTFT counts from when it was sent, after the wait: the wait is not the server's.
    assert all(r.trace.origin - load.started == pytest.approx(r.sent_s) for r in load.requests)


def test_without_a_cap_arrivals_do_not_wait_for_earlier_calls() -> None:
    fake = SlowFake(delay_s=1.0)
    load = asyncio.run(run_load(fake, ["q"], LoadSpec(50.0, Arrival.CONSTANT, requests=5)))
    assert load.run.peak_in_flight == 5  # open loop: all in flight together
    assert max(r.released_s for r in load.requests) < 0.9  # released before the first call ended


def test_failed_requests_count_against_goodput_and_never_as_latencies() -> None:
    fake = SlowFake(delay_s=0.01, fail_every=3)
    load = asyncio.run(run_load(fake, ["q"], LoadSpec(50.0, Arrival.CONSTANT, requests=9)))
    run = load.run
    assert (run.count, run.failed, run.succeeded) == (9, 3, 6)
    assert run.distribution("e2e_s").count == 6
    assert run.goodput(Slo(e2e_s=60)).good == 6 and run.goodput(Slo(e2e_s=60)).calls == 9
    assert run.failures and run.failures[0].count == 3
    row = level_row(load, Slo(e2e_s=60))
    assert row["failed"] == 3 and row["goodput_share"] == pytest.approx(6 / 9) and "× 3" in row["failures"]


def test_stop_ends_arrivals_at_once_and_cancels_the_calls_in_flight() -> None:
    fake = SlowFake(delay_s=5.0)
    stop = threading.Event()

    async def go() -> LoadRun:
        asyncio.get_running_loop().call_later(0.2, stop.set)
        return await run_load(fake, ["q"], LoadSpec(20.0, Arrival.CONSTANT, requests=None, duration_s=60), stop=stop)

    load = asyncio.run(go())
    assert load.stopped
    assert 1 <= len(load.requests) <= 8  # ~0.2 s of arrivals at 20/s (4), none after Stop
    assert load.cancelled == len(load.requests)
    assert all(r.state == "cancelled by Stop" for r in load.requests)
    assert load.run.count == 0 and load.run.failed == 0  # cancelled calls are no failures
    assert load.ended - load.started < 2.0


def test_a_progress_callback_that_raises_stops_the_run_like_stop() -> None:
    class ScriptStopped(Exception):
        pass

    seen: list[LoadRun] = []

    def progress(load: LoadRun) -> None:
        seen.append(load)
        raise ScriptStopped

    with pytest.raises(ScriptStopped):
        asyncio.run(run_load(SlowFake(delay_s=5.0), ["q"], LoadSpec(20.0, requests=50), on_progress=progress))
    assert seen[0].stopped and seen[0].requests and all(r.cancelled for r in seen[0].requests)


def test_no_prompt_is_a_clear_error() -> None:
    with pytest.raises(LoadSpecError, match="prompt"):
        asyncio.run(run_load(SlowFake(), [], LoadSpec(1.0, requests=1)))


# --- the sweep's knee, on hand-written traces -------------------------------------------------------


def level(rate: float, ttfts: list[float], *, failed: int = 0, wall: float = 10.0) -> LoadRun:
    load = LoadRun(LoadSpec(rate, requests=max(len(ttfts) + failed, 1)), started=0.0, ended=wall)
    traces = [
        CallTrace("r", origin=i / rate, finished=i / rate + ttft + 0.1, streamed=True,
                  chunks=[StreamChunk(i / rate + ttft, "a"), StreamChunk(i / rate + ttft + 0.1, "b")],
                  outcome=Outcome(COMPLETE, finish_reason="stop", usage=Usage(5, 2, 7)))
        for i, ttft in enumerate(ttfts)
    ]
    problem = CallProblem("rate_limit", "Rate limited (HTTP 429)", "too many", "Slow down.")
    traces += [CallTrace("r", origin=0.0, finished=0.1, outcome=Outcome(FAILED, problem=problem)) for _ in range(failed)]
    load.requests = [LoadRequest(i, "q", t.origin, t.origin, t.origin, t) for i, t in enumerate(traces)]
    return load


def test_the_knee_names_the_last_rate_within_the_slo_and_the_first_past_it() -> None:
    levels = [level(4, [1.5] * 10), level(1, [0.2] * 10), level(2, [0.3] * 9 + [0.6])]
    found = knee(levels, Slo(ttft_ms=1000))
    assert (found.last_ok, found.first_bad) == (2, 4)
    assert found.sentence.startswith("Above 2 req/s the p90 time to first token passes 1,000 ms")


def test_the_knee_says_when_every_rate_met_the_slo_or_the_first_already_missed_it() -> None:
    assert knee([level(1, [0.2] * 10), level(2, [0.4] * 10)], Slo(ttft_ms=500)).sentence.startswith(
        "Up to 2 req/s the p90 time to first token stays within 500 ms")
    first = knee([level(1, [2.0] * 10)], Slo(ttft_ms=500))
    assert first.last_ok is None and "Already at 1 req/s" in first.sentence


def test_a_small_level_is_read_at_p50_and_says_so() -> None:
    assert "p50" in knee([level(1, [0.2, 0.3]), level(2, [3.0, 3.0])], Slo(ttft_ms=1000)).sentence


def test_a_level_where_nothing_succeeded_breaks_the_slo_with_its_failures_named() -> None:
    found = knee([level(1, [0.2] * 10), level(8, [], failed=5)], Slo(e2e_s=2))
    assert found.first_bad == 8 and "Rate limited (HTTP 429) × 5" in found.sentence


def test_saturation_is_where_completions_fall_behind_arrivals() -> None:
    keeps_up = level(2, [0.2] * 10, wall=5.0)  # 10 done in 5 s at an offered 2/s
    behind = level(8, [0.2] * 10, wall=5.0)  # 10 done in 5 s while 8/s arrived
    assert saturation([keeps_up]) == ""
    assert saturation([keeps_up, behind]).startswith("At 8 req/s the endpoint completed 2 requests a second")


# --- the server's view ---------------------------------------------------------------------------

LLAMA_METRICS = """# HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s
# TYPE llamacpp:prompt_tokens_seconds gauge
llamacpp:prompt_tokens_seconds 18.4154
llamacpp:predicted_tokens_seconds 1.46941
llamacpp:requests_processing 4
llamacpp:requests_deferred 2
llamacpp:n_busy_slots_per_decode 3.65263
"""


def test_llama_metrics_and_slots_give_only_the_series_the_server_reported() -> None:
    slots = [{"id": 0, "n_ctx": 2048, "is_processing": True, "n_prompt_tokens": 36,
              "next_token": [{"n_decoded": 1}]},
             {"id": 1, "n_ctx": 2048, "is_processing": False}]
    values = llama_values(LLAMA_METRICS, slots)
    assert values == {"processing": 4, "deferred": 2, "prompt_tokens_per_s": 18.4154,
                      "generation_tokens_per_s": 1.46941, "slots_busy": 1, "slot_tokens": 37,
                      "slot_capacity": 4096}
    assert "kv_cache_usage" not in values  # this build has no KV gauge: absent, never 0
    assert llama_values(None, None) == {}
    assert llama_values("llamacpp:kv_cache_usage_ratio 0.25", None) == {"kv_cache_usage": 0.25}


def test_prometheus_labels_and_comments_are_read_right() -> None:
    assert parse_prometheus('# TYPE a gauge\na{x="1 2"} 3\nb 4e0\nbad\n') == {"a": 3.0, "b": 4.0}


def test_rate_limit_headers_become_a_series_on_the_loads_clock() -> None:
    t = CallTrace("r", origin=10.0, attempts=[
        HttpAttempt(1, 10.0, headers=10.5, reported={"x-ratelimit-remaining-requests": "9",
                                                     "x-ratelimit-remaining-tokens": "1200"})])
    view = header_view([t], started=10.0)
    assert view.series("remaining_requests") == [(0.5, 9.0)] and view.series("remaining_tokens") == [(0.5, 1200.0)]
    none = header_view([CallTrace("r", attempts=[HttpAttempt(1, 0.0, headers=0.1)])], started=0.0)
    assert none.samples == [] and none.note.startswith("not reported")


def test_a_sweep_runs_each_rate_in_turn_and_says_whether_it_finished() -> None:
    from core.patterns.load_sweep import run_sweep

    done = run_sweep([20.0, 40.0], LoadSpec(1.0, Arrival.CONSTANT, requests=3), ["q"], lambda **_: SlowFake(delay_s=0.01))
    assert [lv.spec.rate_per_s for lv in done.levels] == [20.0, 40.0] and done.finished and not done.stopped
    assert all(lv.server.note.startswith("not reported") for lv in done.levels)  # no server to ask
    stop = threading.Event()
    stop.set()
    stopped = run_sweep([20.0], LoadSpec(1.0, requests=3), ["q"], lambda **_: SlowFake(), stop=stop)
    assert stopped.stopped and not stopped.finished and stopped.levels == []
