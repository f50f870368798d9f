"""The open-loop load generator's accuracy: does it offer the rate it says, with the gaps it says?

200 Poisson arrivals at 5 req/s (seed 1), each a streamed call through the lab's core path
(`core.patterns.load_sweep.run_sweep`: one event loop, one traced async client) to the latency-bound stub
endpoint in its own process (`bench.latency_endpoint`, 300 ms before the first byte), so the
calls wait and cost the client almost nothing: what is measured is the generator.

* **achieved rate**: arrivals released per second, (n − 1) ÷ (last − first release). Against the
  target, a Poisson schedule of 200 differs by chance (±1/√199 ≈ 7 %), so the generator is held
  against its own seeded schedule's rate (the same formula over the scheduled times): ≤ 2 % off.
* **coefficient of variation** of the released gaps: 1.0 for Poisson; held to 1.0 ± 0.1 (the
  schedule's own CoV is printed beside it: chance again).
* **lag**: scheduled → released, p99 ≤ 5 ms (the event loop's timer and the work of starting the
  calls in flight).

Run: `.venv/bin/python -m bench load_generator` on a quiet machine (or `make bench`).
"""

from __future__ import annotations

import itertools

from bench.common import print_table

RATE = 5.0
REQUESTS = 200
LATENCY_MS = 300
SEED = 1


def run(rate: float = RATE, requests: int = REQUESTS) -> list[dict[str, object]]:
    """One row per measure: the generator's rate, its gaps' CoV and its lag, with the schedule's."""
    from langchain_openai import ChatOpenAI

    from bench.latency_endpoint import latency_bound_endpoint
    from core.patterns.load import Arrival, LoadSpec, coefficient_of_variation
    from core.patterns.load_sweep import run_sweep

    with latency_bound_endpoint(LATENCY_MS) as (base_url, key):
        def build(**overrides: object) -> ChatOpenAI:
            return ChatOpenAI(base_url=base_url, api_key=key, model="stub", max_retries=0,  # type: ignore[arg-type]  # key is a str, as ChatOpenAI accepts
                              stream_usage=True, **overrides)

        sweep = run_sweep([rate], LoadSpec(rate, Arrival.POISSON, requests=requests, seed=SEED), ["Say ok."], build)
    level = sweep.levels[0]
    scheduled = [r.scheduled_s for r in level.requests]
    released = sorted(r.released_s for r in level.requests if r.released_s is not None)
    schedule_rate = (len(scheduled) - 1) / (scheduled[-1] - scheduled[0])
    achieved = level.achieved_rate_per_s
    lag = level.lag
    gap_cov = coefficient_of_variation([b - a for a, b in itertools.pairwise(released)])
    schedule_cov = coefficient_of_variation([b - a for a, b in itertools.pairwise(scheduled)])
    p50, p99 = lag.at(50).value, lag.at(99).value
    return [
        {"measure": "requests sent / succeeded", "value": f"{level.sent} / {level.run.succeeded}"},
        {"measure": "target rate (req/s)", "value": f"{rate:g}"},
        {"measure": "seeded schedule's own rate (req/s)", "value": f"{schedule_rate:.3f}"},
        {"measure": "achieved rate (req/s)", "value": "—" if achieved is None else f"{achieved:.3f}"},
        {"measure": "achieved ÷ schedule, off by (%)",
         "value": "—" if achieved is None else f"{abs(achieved / schedule_rate - 1) * 100:.2f}"},
        {"measure": "CoV of released gaps", "value": "—" if gap_cov is None else f"{gap_cov:.3f}"},
        {"measure": "CoV of scheduled gaps", "value": "—" if schedule_cov is None else f"{schedule_cov:.3f}"},
        {"measure": "lag scheduled → released p50 (ms)", "value": "—" if p50 is None else f"{p50 * 1000:.2f}"},
        {"measure": "lag scheduled → released p99 (ms)", "value": "—" if p99 is None else f"{p99 * 1000:.2f}"},
    ]


def main() -> None:
    print_table(f"Load generator: {REQUESTS} Poisson arrivals at {RATE:g} req/s to a +{LATENCY_MS} ms stub", run())


if __name__ == "__main__":
    main()
