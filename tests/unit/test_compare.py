"""core/patterns/compare.py: the race and repeat runners, the schedule, per-endpoint figures and ratios.

The runners are driven through the real `ChatOpenAI` against tests/fake_openai.py, which can
answer the way a broken endpoint does (401, a stream without a finish reason); the figures are
checked on traces built by hand, so every number is known.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from core.call.bridge import run_async
from core.call.stats import percentile
from core.call.trace import CallTrace, Outcome, StreamChunk
from core.call.usage import Usage
from core.money.ledger import SessionLedger
from core.money.pricing import ModelPrice, PriceTable
from core.network.conditions import PRESETS
from core.patterns.compare import (
    CompareCall,
    CompareRun,
    EndpointSpec,
    figures_of,
    interleaved_schedule,
    race,
    ratios,
    repeat,
    summarise,
)
from core.settings import Provider
from tests.fake_openai import NO_FINISH, FakeOpenAI

KEY = "sk-fake-compare-key-0123456789"
PRICES = PriceTable((ModelPrice("priced-model", "openai", 1.0, None, 2.0),), as_of="2026-11-24", source="test")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(KEY, reply="one two three four five").start()
    yield server
    server.stop()


def model(fake: FakeOpenAI, http: Any, name: str = "fake-model", key: str = KEY) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=fake.base_url, api_key=key, stream_usage=True,
                      max_retries=0, timeout=20, http_async_client=http)


def test_one_failing_endpoint_does_not_stop_the_others(fake: FakeOpenAI) -> None:
    ledger = SessionLedger()
    configs = [{"callbacks": [ledger.callback(pattern="compare", provider="fake", secrets=(KEY,))],
                "tags": ["compare:t1"]} for _ in range(3)]

    async def work(http: Any) -> list[CompareCall]:
        llms = [model(fake, http), model(fake, http, "reject-key"), model(fake, http, NO_FINISH)]
        return await race(llms, "hi", configs, secrets=[(KEY,)] * 3)

    good, rejected, cut = run_async(work)
    assert good.ok and good.text.strip() == "one two three four five"
    assert rejected.problem is not None and rejected.problem.kind == "auth"
    assert KEY not in rejected.problem.as_text()
    # A stream that stopped without a finish reason keeps its words and says it may be cut.
    assert cut.problem is not None and cut.problem.kind == "incomplete" and cut.text
    assert [figures_of(c, PRICES).status for c in (good, rejected, cut)] == ["complete", "failed", "incomplete"]
    # Every call, the failed ones too, is in the ledger with the comparison's tag.
    assert len(ledger) == 3 and all("compare:t1" in r.trace.tags for r in ledger)


def test_a_race_runs_the_streams_at_once(fake: FakeOpenAI) -> None:
    async def work(http: Any) -> list[CompareCall]:
        return await race([model(fake, http), model(fake, http)], "hi", [None, None])

    a, b = run_async(work)
    # Both started before either ended: they were in flight together.
    assert a.started_s is not None and b.started_s is not None
    assert max(a.started_s, b.started_s) < min(a.ended_s, b.ended_s)


def test_repeat_runs_every_endpoint_n_times_one_at_a_time(fake: FakeOpenAI) -> None:
    started: list[tuple[int, int]] = []

    async def work(http: Any) -> list[CompareCall]:
        return await repeat([model(fake, http), model(fake, http)], "hi", [None, None], 3,
                            on_call_start=lambda r, i: started.append((r, i)))

    calls = run_async(work)
    assert [(c.round, c.endpoint) for c in calls] == started == interleaved_schedule(2, 3)
    for earlier, later in itertools.pairwise(calls):
        assert earlier.ended_s <= later.started_s  # never two at once
    assert all(c.ok and c.trace is not None for c in calls)


@pytest.mark.parametrize(("endpoints", "rounds"), [(2, 1), (2, 5), (3, 4)])
def test_the_schedule_gives_every_endpoint_every_round_and_no_fixed_first(endpoints: int, rounds: int) -> None:
    schedule = interleaved_schedule(endpoints, rounds)
    for r in range(rounds):
        assert sorted(i for round_, i in schedule if round_ == r) == list(range(endpoints))
    firsts = {schedule[r * endpoints][1] for r in range(rounds)}
    assert len(firsts) == min(endpoints, rounds)


REPORTED = Usage(10, 4, 14)


def trace(ttft: float, total: float, *, usage: Usage | None = REPORTED, model: str = "m",
          finish: str | None = "stop") -> CallTrace:
    t = CallTrace("r", origin=0.0, finished=total, streamed=True, model_requested=model,
                  chunks=[StreamChunk(ttft + i * 0.1, "w") for i in range(4)])
    t.outcome = Outcome("complete", "wwww", usage, finish, model)
    return t


def test_cost_is_priced_or_says_why_not() -> None:
    priced = figures_of(CompareCall(0, 0, "x", trace(0.1, 1.0, model="priced-model")), PRICES)
    assert priced.cost_usd == pytest.approx((10 * 1.0 + 4 * 2.0) / 1e6)
    assert figures_of(CompareCall(0, 0, "x", trace(0.1, 1.0)), PRICES).cost_text == "no price"
    unreported = figures_of(CompareCall(0, 0, "x", trace(0.1, 1.0, usage=None)), PRICES)
    assert unreported.cost_text == "usage not reported" and unreported.input_tokens is None


def test_summaries_leave_failures_out_of_the_percentiles() -> None:
    from core.call.errors import CallProblem

    failed = CompareCall(1, 2, "", trace(0.0, 9.9), CallProblem("timeout", "Timed out", "d", "f"))
    run = CompareRun("x", "repeat", ["A · a", "B · b"], "hi", [
        CompareCall(0, 0, "w", trace(0.10, 1.0)), CompareCall(1, 0, "w", trace(0.40, 1.3)),
        CompareCall(1, 1, "w", trace(0.20, 1.1)), CompareCall(0, 1, "w", trace(0.30, 1.2)),
        failed,
    ])
    a, b = summarise(run, PRICES)
    assert (a.calls, a.failures, b.calls, b.failures) == (2, 0, 3, 1)
    assert a.spread("ttft_s").p50 == pytest.approx(0.2) and b.spread("ttft_s").p50 == pytest.approx(0.3)
    assert b.spread("ttft_s").p90 == pytest.approx(0.38) and b.spread("e2e_s").n == 2
    sentences = [r.sentence for r in ratios([a, b])]
    assert sentences[0] == "B's first token comes 1.5× later than A's (300 ms vs 200 ms)."


def test_no_ratio_against_a_figure_that_was_not_measured() -> None:
    run = CompareRun("x", "race", ["A · a", "B · b"], "hi", [
        CompareCall(0, 0, "w", trace(0.1, 1.0)),
        CompareCall(1, 0, "", None),  # never reached the model
    ])
    assert ratios(summarise(run, PRICES)) == []


def test_percentiles_interpolate_between_ranks() -> None:
    values = [0.5, 0.1, 0.3, 0.2, 0.4]
    assert percentile(values, 50) == 0.3
    assert percentile(values, 90) == pytest.approx(0.46)
    assert percentile(values, 0) == 0.1 and percentile(values, 100) == 0.5
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_specs_name_their_column_and_refuse_unknown_presets() -> None:
    assert EndpointSpec(Provider.OPENAI, model="gpt-4o-mini").label == "OpenAI · gpt-4o-mini"
    assert all(EndpointSpec(Provider.LOCAL, name) for name in PRESETS)
    with pytest.raises(ValueError, match="unknown network preset"):
        EndpointSpec(Provider.LOCAL, "Dial-up")


def test_a_replay_columns_code_says_it_was_a_recording_and_holds_no_key() -> None:
    from pydantic import SecretStr

    from core.call.models import Endpoint, resolve_endpoint
    from core.export.snippets import compare_code
    from core.settings import ModelSettings

    settings = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
    live = resolve_endpoint(settings, None)
    replay = Endpoint(provider=Provider.COMPATIBLE, base_url="http://127.0.0.1:5/v1", model="gpt-4o-mini",
                      api_key=SecretStr("route-key-123456"), key_env_var="LAB_COMPAT_API_KEY",
                      replay="Replay: gpt-4o-mini, recorded 2026-12-01 21:50 · 1×")
    code = compare_code([settings, settings], [live, replay], "Hi", labels=["A · live", "B · replay"])
    assert "# B · replay: the lab answered from a recording (Replay: gpt-4o-mini" in code
    assert "route-key-123456" not in code
    compile(code, "snippet", "exec")
