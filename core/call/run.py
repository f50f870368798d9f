"""A run of calls: a group of traced calls and the one aggregate computed from them.

A Measure series, an async mode, a batch job, a sweep level, a compare race — and next a
conversation's turns, an agent loop's steps, a load test's arrivals — are all a `Run`: a list of
`CallTrace`s, added as each call starts or finishes, read through properties that aggregate
them on demand. Nothing else adds up a group of calls: distributions go through `core.call.stats`
(its percentile rules and "needs ≥ N runs"), failures are grouped by cause through
`core.call.failures`, money through `core.money.costs` (`run_cost_usd`). Every figure a call cannot give (no usage, no
price, no text streamed) is left out and counted, never taken as 0.

Times: a call lasts from its trace's ``origin`` to its ``end`` (the runner's view, the same span
its e2e measures). The run's wall time runs from `started` (default: the earliest origin) to
`ended` (default: the latest end); a runner that knows when it began and finished sets both.

Example:
    >>> from core.call.trace import CallTrace, Outcome, StreamChunk
    >>> def call(origin: float, first: float, end: float) -> CallTrace:
    ...     return CallTrace("r", origin=origin, finished=end, streamed=True,
    ...                      chunks=[StreamChunk(first, "a"), StreamChunk(end, "b")],
    ...                      outcome=Outcome("complete", finish_reason="stop"))
    >>> run = Run("gather")
    >>> run.add(call(0.0, 0.2, 1.0))
    >>> run.add(call(0.1, 0.4, 0.9))
    >>> run.count, run.succeeded, run.wall_s, run.peak_in_flight
    (2, 2, 1.0, 2)
    >>> run.distribution("ttft_s").mean
    0.25
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from core.call.failures import FailureGroup, failure_line, outcome_label, summarize_failures
from core.call.stats import Distribution, Goodput, RunSummary, Slo, goodput, summarize
from core.call.trace import CallTrace


@dataclass
class Run:
    """A group of traced calls, with its aggregate.

    Build one from traces (``Run("label", traces)`` or `Run.of`), or empty and `add` each call
    as it starts or finishes: every property is computed from the calls held at the moment it
    is read, so a page polling a run that is still going shows live figures.

    Attributes:
        label: what the run was ("gather", "level 8", "turns", ...), for tables and exports.
        calls: the calls' traces, in the order they were added.
        started: `time.perf_counter()` when the run began; None = its earliest call's origin.
        ended: when it was done; None = its latest call's end.
    """

    label: str = ""
    calls: list[CallTrace] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None

    @classmethod
    def of(cls, traces: Iterable[CallTrace], label: str = "") -> Run:
        """A run of the given traces (any iterable: a list, a generator, a tuple)."""
        return cls(label, list(traces))

    def add(self, trace: CallTrace) -> None:
        """Add one call (when it starts, or when it finishes: both read the same)."""
        self.calls.append(trace)

    def __iter__(self) -> Iterator[CallTrace]:
        return iter(self.calls)

    def __len__(self) -> int:
        return len(self.calls)

    # --- counts ---------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Every call added, running ones included."""
        return len(self.calls)

    @property
    def finished(self) -> list[CallTrace]:
        """Calls that have an outcome (succeeded, incomplete or failed)."""
        return [t for t in self.calls if t.outcome is not None]

    @property
    def running(self) -> int:
        return self.count - len(self.finished)

    @property
    def succeeded(self) -> int:
        return sum(1 for t in self.calls if t.ok)

    @property
    def failed(self) -> int:
        """Finished calls with a problem (a stream cut short counts: its answer is not whole)."""
        return sum(1 for t in self.finished if not t.ok)

    # --- time -----------------------------------------------------------------------------------

    @property
    def wall_s(self) -> float | None:
        """From `started` (or the first origin) to `ended` (or the last end); None before any end.

        Example:
            >>> from core.call.trace import CallTrace
            >>> Run("r", [CallTrace("a", origin=1.0, finished=2.0), CallTrace("b", origin=1.5, finished=3.5)]).wall_s
            2.5
        """
        ends = [t.end for t in self.calls if t.end is not None]
        end = self.ended if self.ended is not None else max(ends, default=None)
        origins = [t.origin for t in self.calls]
        start = self.started if self.started is not None else min(origins, default=None)
        if end is None or start is None:
            return None
        return end - start

    @property
    def sum_e2e_s(self) -> float:
        """Every ended call's e2e added up: how long the calls would take one after another."""
        return sum(t.e2e_s for t in self.calls if t.e2e_s is not None)

    @property
    def mean_e2e_s(self) -> float | None:
        """The average e2e of the calls that ended (it grows when calls compete for the CPU)."""
        ended = [t.e2e_s for t in self.calls if t.e2e_s is not None]
        return sum(ended) / len(ended) if ended else None

    @property
    def median_e2e_s(self) -> float | None:
        """The median e2e of the calls that succeeded (a sweep's "per call" latency); None: none did."""
        ended = [t.e2e_s for t in self.calls if t.ok and t.e2e_s is not None]
        return statistics.median(ended) if ended else None

    @property
    def average_in_flight(self) -> float | None:
        """Sum of e2e over wall time: how many calls were in flight on average."""
        wall = self.wall_s
        return self.sum_e2e_s / wall if wall else None

    @property
    def peak_in_flight(self) -> int:
        """The most calls in flight at one moment (1 for a loop, n for n calls at once).

        A sweep over origins (+1) and ends (−1); at equal times ends count first, so a call
        starting exactly when another ends is not an overlap. Calls without an end are left out.

        Example:
            >>> from core.call.trace import CallTrace
            >>> Run("r", [CallTrace("a", origin=0.0, finished=1.0), CallTrace("b", origin=1.0, finished=2.0)]).peak_in_flight
            1
        """
        events: list[tuple[float, int]] = []
        for t in self.calls:
            if t.end is not None:
                events += [(t.origin, 1), (t.end, -1)]
        events.sort()  # (t, -1) sorts before (t, +1): ends first at ties
        peak = current = 0
        for _, delta in events:
            current += delta
            peak = max(peak, current)
        return peak

    @property
    def request_throughput(self) -> float | None:
        """Successful calls per second of wall time (None without a wall time or a success)."""
        wall, done = self.wall_s, self.succeeded
        return done / wall if wall and done else None

    @property
    def output_token_throughput(self) -> float | None:
        """Output tokens of the successful calls (usage, else text chunks) per second of wall time."""
        tokens = [t.output_tokens for t in self.calls if t.ok and t.output_tokens is not None]
        wall = self.wall_s
        return sum(tokens) / wall if wall and tokens else None

    # --- distributions (core.call.stats) -------------------------------------------------------------

    @property
    def summary(self) -> RunSummary:
        """Distributions of TTFT, ITL, TPOT, e2e and output tokens/s over the finished calls.

        Failed calls are counted and left out of every distribution (see `core.call.stats`).
        """
        return summarize(self.finished)

    def distribution(self, key: str) -> Distribution:
        """One metric's distribution ("ttft_s", "itl_s", "tpot_s", "e2e_s", "output_tokens_per_s")."""
        return self.summary.distributions[key]

    def goodput(self, slo: Slo) -> Goodput:
        """How many finished calls met every SLO set, and how many a second of wall time."""
        return goodput(self.finished, slo, self.wall_s)

    # --- tokens and money -----------------------------------------------------------------------

    @property
    def usage_missing(self) -> int:
        """Successful calls whose endpoint reported no usage (their tokens are "not reported")."""
        return sum(1 for t in self.calls if t.ok and t.usage is None)

    @property
    def input_tokens(self) -> int | None:
        """Prompt tokens reported, summed; None when no call reported usage ("not reported")."""
        reported = [t.usage.input_tokens for t in self.calls if t.usage is not None]
        return sum(reported) if reported else None

    @property
    def output_tokens(self) -> int | None:
        """Completion tokens reported, summed; None when no call reported usage ("not reported")."""
        reported = [t.usage.output_tokens for t in self.calls if t.usage is not None]
        return sum(reported) if reported else None

    # --- failures -------------------------------------------------------------------------------

    @property
    def failures(self) -> list[FailureGroup]:
        """The failed calls grouped by cause, the most frequent first."""
        return summarize_failures(t.problem for t in self.finished if not t.ok)

    def failure_line(self, noun: str = "call") -> str:
        """'3 of 10 calls failed: timed out × 3 — raise the timeout…', or "" when none did."""
        return failure_line(self.failures, total=self.count, noun=noun)

    @property
    def outcome_label(self) -> str:
        """"done", "finished with failures" or "failed" (none succeeded)."""
        return outcome_label(self.succeeded, self.failed)
