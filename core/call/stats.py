"""Benchmark statistics over repeated calls: distributions, percentiles and goodput.

One streamed answer is an anecdote; this module turns many timed calls into distributions the
way serving benchmarks do (each call's figures are its `CallTrace`'s own; a `core.call.run.Run`
summarises a group of them through here), with every definition written down (`core.call.metric_definitions` puts
them beside vLLM's, GuideLLM's, llmperf's and AIPerf's).

- **Percentiles** use linear interpolation between the two closest ranks — numpy's default
  (`np.percentile(..., method="linear")`), which vLLM and AIPerf use too. A percentile is only
  printed when the sample can carry it: the p-th percentile needs at least
  ``ceil(100 / (100 - p))`` values (p50: 2, p90: 10, p99: 100); below that it says
  "needs ≥ N runs" instead, because p99 of 30 runs is simply the slowest one.
- **Failed calls** are counted and left out of every latency figure (a timeout is not a
  latency); they count against goodput.
- **Token counts** come from the usage the endpoint reported; a call without usage falls back
  to its number of text chunks (one token per chunk on llama.cpp and OpenAI), and is marked so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.call.trace import CallTrace, TokenSource

__all__ = ["TokenSource"]  # re-exported: where a call's token count came from (core.call.trace)

# The percentiles every table shows.
PERCENTILES: tuple[int, ...] = (50, 90, 99)


def min_samples_for(p: float) -> int:
    """The fewest values for which the p-th percentile is more than the extreme value.

    With n values, the top (100 − p) % holds n·(100 − p)/100 of them; below one value, the
    percentile is just the maximum (or an interpolation towards it).

    Example:
        >>> [min_samples_for(p) for p in (50, 90, 99)]
        [2, 10, 100]
    """
    if not 0 < p < 100:
        raise ValueError("p must be between 0 and 100 (exclusive)")
    return math.ceil(100 / (100 - p) - 1e-9)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile by linear interpolation between closest ranks (numpy's default).

    The rank is ``(n − 1) · p / 100``; between two sorted values the result is interpolated.

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
        2.5
        >>> percentile([5.0], 90)
        5.0
    """
    if not values:
        raise ValueError("no values")
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class PercentileValue:
    """One percentile of a distribution: a value, or why there is none.

    Attributes:
        p: the percentile (50, 90, 99).
        value: the value, or None when the sample is too small for it.
        needs: the sample size this percentile needs (shown when `value` is None).
    """

    p: int
    value: float | None
    needs: int

    @property
    def note(self) -> str:
        return f"needs ≥ {self.needs} runs"


@dataclass(frozen=True)
class Distribution:
    """mean / min / max and percentiles of one metric over a sample.

    Attributes:
        name: the metric's key ("ttft_s", "itl_s", ...).
        values: the sample (failed calls already left out).
    """

    name: str
    values: tuple[float, ...]
    percentiles: tuple[PercentileValue, ...] = field(default=())

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None

    @property
    def min(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def max(self) -> float | None:
        return max(self.values) if self.values else None

    def at(self, p: int) -> PercentileValue:
        return next(q for q in self.percentiles if q.p == p)


def distribution(name: str, values: Iterable[float], percentiles: Sequence[int] = PERCENTILES) -> Distribution:
    """Summarise `values`; a percentile the sample is too small for has value None.

    Example:
        >>> d = distribution("e2e_s", [0.2, 0.4, 0.4, 0.6])
        >>> d.mean, d.at(50).value, d.at(90).value, d.at(90).note
        (0.4, 0.4, None, 'needs ≥ 10 runs')
    """
    sample = tuple(float(v) for v in values)
    computed = tuple(
        PercentileValue(
            p=p,
            value=percentile(sample, p) if len(sample) >= min_samples_for(p) else None,
            needs=min_samples_for(p),
        )
        for p in percentiles
    )
    return Distribution(name=name, values=sample, percentiles=computed)


# -- many calls -------------------------------------------------------------------------------

METRICS: tuple[str, ...] = ("ttft_s", "itl_s", "tpot_s", "e2e_s", "output_tokens_per_s")


@dataclass(frozen=True)
class RunSummary:
    """Distributions over measured calls, with what was left out and why.

    Attributes:
        calls: every call measured (failed ones included).
        failed: calls that ended in an error (left out of every distribution).
        usage_missing: successful calls whose endpoint reported no usage (tokens = chunks).
        distributions: by metric key; ITL pools every gap of every call (as vLLM does).
    """

    calls: int
    failed: int
    usage_missing: int
    distributions: dict[str, Distribution]

    @property
    def succeeded(self) -> int:
        return self.calls - self.failed

    @property
    def token_note(self) -> str:
        """Which token count TPOT and tokens/s used, in words."""
        if self.succeeded == 0:
            return "no successful call"
        if self.usage_missing == 0:
            return "output tokens as reported by the endpoint (usage)"
        if self.usage_missing == self.succeeded:
            return "usage not reported: output tokens = text chunks counted"
        return (
            f"usage reported for {self.succeeded - self.usage_missing} of {self.succeeded} calls; "
            f"the {self.usage_missing} without it count text chunks"
        )


def summarize(metrics: Sequence[CallTrace]) -> RunSummary:
    """Distributions of every metric over the successful calls.

    Example:
        >>> from core.call.errors import CallProblem
        >>> from core.call.trace import Outcome, StreamChunk
        >>> ok = CallTrace("a", origin=0.0, finished=1.0, chunks=[StreamChunk(0.1, "a"), StreamChunk(0.2, "b")],
        ...                outcome=Outcome("complete"))
        >>> bad = CallTrace("b", origin=0.0, finished=5.0,
        ...                 outcome=Outcome("failed", problem=CallProblem("timeout", "Timed out", "", "")))
        >>> s = summarize([ok, ok, bad])
        >>> s.calls, s.failed, s.usage_missing, s.distributions["e2e_s"].count
        (3, 1, 2, 2)
    """
    good = [m for m in metrics if m.ok]
    series: dict[str, list[float]] = {
        "ttft_s": [m.ttft_s for m in good if m.ttft_s is not None],
        "itl_s": [gap for m in good for gap in m.itl_s],
        "tpot_s": [m.tpot_s for m in good if m.tpot_s is not None],
        "e2e_s": [m.e2e_s for m in good if m.e2e_s is not None],
        "output_tokens_per_s": [m.output_tokens_per_s for m in good if m.output_tokens_per_s is not None],
    }
    return RunSummary(
        calls=len(metrics),
        failed=len(metrics) - len(good),
        usage_missing=sum(1 for m in good if m.token_source is not TokenSource.USAGE),
        distributions={k: distribution(k, v) for k, v in series.items()},
    )


# -- goodput ----------------------------------------------------------------------------------


class SloError(ValueError):
    """An SLO the user typed cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Slo:
    """Service-level objectives a call must all meet to count as good; None = no limit.

    Attributes:
        ttft_ms: time to first token at most this many milliseconds.
        tpot_ms: time per output token at most this many milliseconds.
        e2e_s: end-to-end latency at most this many seconds.
    """

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_s: float | None = None

    def __post_init__(self) -> None:
        for _name, label, value in (
            ("ttft_ms", "TTFT", self.ttft_ms), ("tpot_ms", "TPOT", self.tpot_ms), ("e2e_s", "e2e", self.e2e_s)
        ):
            if value is None:
                continue
            if math.isnan(value) or value <= 0:
                raise SloError(
                    f"The {label} limit must be a positive number (got {value!r}). "
                    "Leave it empty for no limit on that metric."
                )

    @property
    def is_set(self) -> bool:
        return any(v is not None for v in (self.ttft_ms, self.tpot_ms, self.e2e_s))

    def describe(self) -> str:
        """The SLOs in words.

        Example:
            >>> Slo(ttft_ms=500, e2e_s=2).describe()
            'TTFT ≤ 500 ms · e2e ≤ 2 s'
        """
        parts = []
        if self.ttft_ms is not None:
            parts.append(f"TTFT ≤ {self.ttft_ms:g} ms")
        if self.tpot_ms is not None:
            parts.append(f"TPOT ≤ {self.tpot_ms:g} ms")
        if self.e2e_s is not None:
            parts.append(f"e2e ≤ {self.e2e_s:g} s")
        return " · ".join(parts) if parts else "no SLO set"

    def met_by(self, m: CallTrace) -> bool:
        """Whether one call met every SLO set. A failed call never does.

        A metric that could not be observed for the call (no TTFT for a call invoked whole)
        fails an SLO on it: unmeasured is not good. TPOT for a one-token answer counts as 0,
        as in vLLM's goodput.
        """
        if not m.ok:
            return False
        if self.ttft_ms is not None and (m.ttft_s is None or m.ttft_s * 1000 > self.ttft_ms):
            return False
        if self.tpot_ms is not None:
            if m.tpot_s is None and (m.output_tokens or 0) > 1:
                return False
            if (m.tpot_s or 0.0) * 1000 > self.tpot_ms:
                return False
        return not (self.e2e_s is not None and (m.e2e_s is None or m.e2e_s > self.e2e_s))


@dataclass(frozen=True)
class Goodput:
    """How many calls met the SLOs.

    Attributes:
        good: calls that met every SLO set.
        calls: every call, failed ones included (they are not good).
        rate_per_s: good calls per second of wall time (None without a wall time).
    """

    slo: Slo
    good: int
    calls: int
    rate_per_s: float | None

    @property
    def share(self) -> float | None:
        return self.good / self.calls if self.calls else None


def goodput(metrics: Sequence[CallTrace], slo: Slo, wall_s: float | None = None) -> Goodput:
    """Share and rate of calls that met `slo`.

    Example:
        >>> from core.call.trace import Outcome, StreamChunk
        >>> def call(e2e: float, *texts: float) -> CallTrace:
        ...     return CallTrace("r", origin=0.0, finished=e2e, chunks=[StreamChunk(t, "x") for t in texts],
        ...                      outcome=Outcome("complete"))
        >>> fast, slow = call(0.5, 0.1, 0.2), call(3.0, 2.0, 2.5)
        >>> g = goodput([fast, slow], Slo(ttft_ms=500), wall_s=4.0)
        >>> g.good, g.share, g.rate_per_s
        (1, 0.5, 0.25)
    """
    if not slo.is_set:
        raise SloError("Set at least one SLO (TTFT, TPOT or e2e) to compute goodput.")
    good = sum(1 for m in metrics if slo.met_by(m))
    rate = good / wall_s if wall_s and wall_s > 0 else None
    return Goodput(slo=slo, good=good, calls=len(metrics), rate_per_s=rate)
