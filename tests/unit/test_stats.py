"""The benchmark maths on fixed samples: percentiles, a call's figures, summaries and goodput.

A call here is a `CallTrace` written by hand: text chunks at the given times, done at e2e.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.call.errors import CallProblem
from core.call.stats import (
    Slo,
    SloError,
    TokenSource,
    distribution,
    goodput,
    min_samples_for,
    percentile,
    summarize,
)
from core.call.trace import CallTrace, Outcome, StreamChunk
from core.call.usage import Usage


def call(*, ok: bool, e2e_s: float, chunk_times_s: tuple[float, ...] = (), reported_output_tokens: int | None = None,
         error: str | None = None) -> CallTrace:
    """A call that began at 0, streamed text chunks at `chunk_times_s` and ended at `e2e_s`."""
    usage = None if reported_output_tokens is None else Usage(0, reported_output_tokens, reported_output_tokens)
    problem = None if ok else CallProblem("unexpected", error or "Failed", "", "")
    return CallTrace("r", origin=0.0, finished=e2e_s, streamed=bool(chunk_times_s),
                     chunks=[StreamChunk(at, "tok") for at in chunk_times_s],
                     outcome=Outcome("complete" if ok else "failed", usage=usage, problem=problem))


@pytest.mark.parametrize(
    "values",
    [[3.0, 1.0, 2.0], [0.1, 0.1, 0.1, 0.9], list(np.linspace(0.05, 2.0, 37)), [7.0, 7.0, 1.0, 7.0, 2.0]],
)
@pytest.mark.parametrize("p", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_numpy_linear_interpolation(values: list[float], p: int) -> None:
    assert percentile(values, p) == pytest.approx(float(np.percentile(values, p, method="linear")))


def test_ties_give_the_tied_value() -> None:
    assert percentile([0.2, 0.2, 0.2, 0.2, 1.0], 50) == 0.2
    d = distribution("e2e_s", [0.3] * 12)
    assert d.at(50).value == d.at(90).value == 0.3 and d.min == d.max == 0.3


def test_one_run_has_a_mean_but_no_percentiles() -> None:
    d = distribution("ttft_s", [0.25])
    assert (d.mean, d.min, d.max) == (0.25, 0.25, 0.25)
    assert [q.value for q in d.percentiles] == [None, None, None]
    assert d.at(50).note == "needs ≥ 2 runs"


def test_percentiles_appear_only_when_the_sample_can_carry_them() -> None:
    assert [min_samples_for(p) for p in (50, 90, 99)] == [2, 10, 100]
    nine = distribution("e2e_s", [float(i) for i in range(9)])
    assert nine.at(50).value == 4.0 and nine.at(90).value is None and nine.at(90).note == "needs ≥ 10 runs"
    thirty = distribution("e2e_s", [float(i) for i in range(30)])
    assert thirty.at(90).value == pytest.approx(26.1) and thirty.at(99).value is None
    hundred = distribution("e2e_s", [float(i) for i in range(100)])
    assert hundred.at(99).value == pytest.approx(98.01)


def test_empty_sample_has_no_figures() -> None:
    d = distribution("tpot_s", [])
    assert d.count == 0 and d.mean is None and d.min is None and d.at(50).value is None


def test_call_metrics_from_chunk_times_and_reported_usage() -> None:
    m = call(ok=True, e2e_s=1.3, chunk_times_s=(0.3, 0.5, 0.6, 1.2), reported_output_tokens=6)
    assert m.ttft_s == 0.3
    assert m.itl_s == pytest.approx((0.2, 0.1, 0.6))
    assert m.tpot_s == pytest.approx((1.3 - 0.3) / 5)  # (e2e - TTFT) / (tokens - 1), usage tokens
    assert m.token_source is TokenSource.USAGE and m.usage_reported
    assert m.output_tokens_per_s == pytest.approx(5 / 0.9)  # (tokens - 1) / (last - first text chunk)


def test_missing_usage_counts_text_chunks_and_is_marked() -> None:
    m = call(ok=True, e2e_s=1.0, chunk_times_s=(0.2, 0.4, 0.6, 0.8, 1.0))
    assert m.token_source is TokenSource.CHUNKS and not m.usage_reported
    assert m.output_tokens == 5
    assert m.tpot_s == pytest.approx(0.8 / 4)
    summary = summarize([m, call(ok=True, e2e_s=1.0, chunk_times_s=(0.5,), reported_output_tokens=1)])
    assert summary.usage_missing == 1
    assert "1 of 2" in summary.token_note


def test_an_answer_without_text_has_no_ttft_and_no_rate() -> None:
    m = call(ok=True, e2e_s=0.4, chunk_times_s=(), reported_output_tokens=0)
    assert m.ttft_s is None and m.tpot_s is None and m.output_tokens_per_s is None and m.e2e_s == 0.4


def test_one_token_answer_has_no_tpot() -> None:
    m = call(ok=True, e2e_s=0.3, chunk_times_s=(0.25,), reported_output_tokens=1)
    assert m.tpot_s is None and m.itl_s == ()


def test_a_call_invoked_whole_has_no_ttft_or_itl() -> None:
    m = call(ok=True, e2e_s=0.9, reported_output_tokens=8)
    assert m.ttft_s is None and m.itl_s == () and m.tpot_s is None
    assert m.e2e_s == 0.9 and m.output_tokens == 8


def test_a_failed_call_is_counted_and_left_out_of_latency() -> None:
    ok = [call(ok=True, e2e_s=t, chunk_times_s=(t / 4, t / 2)) for t in (1.0, 2.0)]
    failed = call(ok=False, e2e_s=30.0, chunk_times_s=(0.1,), error="Timed out")
    summary = summarize([*ok, failed])
    assert (summary.calls, summary.failed, summary.succeeded) == (3, 1, 2)
    assert summary.distributions["e2e_s"].values == (1.0, 2.0)
    assert summary.distributions["ttft_s"].max == 0.5
    assert failed.problem is not None and failed.problem.title == "Timed out"


def test_itl_pools_every_gap_of_every_call() -> None:
    a = call(ok=True, e2e_s=1.0, chunk_times_s=(0.1, 0.2, 0.4))
    b = call(ok=True, e2e_s=1.0, chunk_times_s=(0.1, 0.9))
    assert sorted(summarize([a, b]).distributions["itl_s"].values) == pytest.approx([0.1, 0.2, 0.8])


def test_goodput_counts_calls_meeting_every_slo_and_failures_as_not_good() -> None:
    fast = call(ok=True, e2e_s=1.0, chunk_times_s=(0.1, 0.2, 0.3), reported_output_tokens=10)
    slow_start = call(ok=True, e2e_s=1.5, chunk_times_s=(0.9, 1.0), reported_output_tokens=10)
    failed = call(ok=False, e2e_s=0.1, error="500")
    calls = [fast, slow_start, failed]
    only_e2e = goodput(calls, Slo(e2e_s=2.0), wall_s=3.0)
    assert (only_e2e.good, only_e2e.calls, only_e2e.share, only_e2e.rate_per_s) == (2, 3, 2 / 3, 2 / 3)
    both = goodput(calls, Slo(ttft_ms=500, e2e_s=2.0), wall_s=3.0)
    assert both.good == 1
    tpot = goodput(calls, Slo(tpot_ms=60))  # (1.0 - 0.1) / 9 = 100 ms and (1.5 - 0.9) / 9 = 67 ms
    assert tpot.good == 0 and tpot.rate_per_s is None
    # A boundary value meets the SLO (≤, as vLLM's `slo >= value`).
    assert goodput([fast], Slo(ttft_ms=100)).good == 1


def test_goodput_needs_an_slo_and_rejects_bad_ones() -> None:
    with pytest.raises(SloError, match="at least one SLO"):
        goodput([], Slo())
    with pytest.raises(SloError, match="positive number"):
        Slo(ttft_ms=-5)
    with pytest.raises(SloError, match="positive number"):
        Slo(e2e_s=0)
    assert Slo(tpot_ms=20).describe() == "TPOT ≤ 20 ms"


def test_an_slo_on_an_unobserved_metric_is_not_met() -> None:
    whole = call(ok=True, e2e_s=0.2, reported_output_tokens=4)
    assert goodput([whole], Slo(ttft_ms=10_000)).good == 0
    assert goodput([whole], Slo(e2e_s=1)).good == 1
