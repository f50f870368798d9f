"""A rate sweep: the same open-loop load at several rates, up to and past saturation.

Each level is a `core.patterns.load.LoadRun` (its calls a `core.call.run.Run`), run one after another in one
event loop with one traced async client (`core.call.bridge.run_async`), with the server's own view
polled beside it when the endpoint is the embedded llama.cpp server (`core.patterns.server_view`). Per
level: TTFT, ITL, TPOT and e2e percentiles (`core.call.stats`, the lab's definitions), throughput,
goodput against the SLOs, failures by cause — and, over the levels, `knee`: where the p90 leaves
the SLO, in a sentence a stakeholder reads.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from core.call.stats import PERCENTILES, Slo
from core.export.otel import run_group
from core.patterns.load import LoadRun, LoadSpec, LoadSpecError, run_load
from core.patterns.server_view import LlamaPoller, ServerView, header_view

#: At most this many rates in one sweep (each level drains before the next starts).
MAX_LEVELS = 8
#: A level "keeps up" while it completes at least this share of the rate it was offered.
KEEPS_UP = 0.9


def parse_rates(text: str) -> list[float]:
    """Rates typed as "0.5, 1, 2 4" → sorted, without repeats; each a valid load rate.

    Raises:
        LoadSpecError: nothing typed, a word that is not a number, a rate out of range, too many.

    Example:
        >>> parse_rates("2, 0.5 1,1")
        [0.5, 1.0, 2.0]
    """
    words = [w for w in re.split(r"[,\s;]+", text.strip()) if w]
    if not words:
        raise LoadSpecError("Type at least one rate (requests a second), e.g. 0.5, 1, 2, 4.")
    rates: set[float] = set()
    for word in words:
        try:
            rate = float(word)
        except ValueError:
            raise LoadSpecError(f"{word!r} is not a rate: type numbers of requests a second, e.g. 0.5, 1, 2.") from None
        LoadSpec(rate)  # the same limits as a single run
        rates.add(rate)
    if len(rates) > MAX_LEVELS:
        raise LoadSpecError(f"At most {MAX_LEVELS} rates in one sweep (got {len(rates)}).")
    return sorted(rates)


@dataclass
class RateSweep:
    """A sweep's levels, lowest rate first.

    Attributes:
        spec: the load of every level but its rate.
        rates: the rates asked for.
        levels: each level run so far.
        stopped: Stop ended it (the level running then is kept, its calls in flight cancelled).
        finished: every level ran to its end (False while running, and after a Stop).
    """

    spec: LoadSpec
    rates: tuple[float, ...]
    levels: list[LoadRun] = field(default_factory=list)
    stopped: bool = False
    finished: bool = False


# --- figures per level -------------------------------------------------------------------------

#: The metrics a level's row shows, with their labels.
LATENCIES: dict[str, str] = {"ttft_s": "TTFT", "itl_s": "ITL", "tpot_s": "TPOT", "e2e_s": "e2e"}


def level_row(level: LoadRun, slo: Slo | None) -> dict[str, Any]:
    """One level's figures as plain values (seconds, counts; None = not observed / not reported)."""
    run = level.run
    row: dict[str, Any] = {
        "target_rate_per_s": level.spec.rate_per_s,
        "achieved_rate_per_s": level.achieved_rate_per_s,
        "sent": level.sent,
        "succeeded": run.succeeded,
        "failed": run.failed,
        "cancelled": level.cancelled,
        "throughput_req_per_s": level.throughput_per_s,
        "output_tokens_per_s": level.output_tokens_per_s,
    }
    for key in LATENCIES:
        dist = run.distribution(key)
        for p in PERCENTILES:
            row[f"{key.removesuffix('_s')}_p{p}_s"] = dist.at(p).value
    if slo is not None and slo.is_set:
        good = run.goodput(slo)
        row["goodput_share"] = good.share
        row["goodput_req_per_s"] = good.rate_per_s
    row["cap_wait_p90_s"] = level.cap_wait.at(90).value
    row["generator_lag_p99_s"] = level.lag.at(99).value
    view: ServerView | None = level.server
    row["server_deferred_peak"] = view.peak("deferred") if view else None
    row["server_slot_tokens_peak"] = view.peak("slot_tokens") if view else None
    row["failures"] = failure_causes(level)
    return row


def failure_causes(level: LoadRun) -> str:
    """"Rate limited (HTTP 429) × 3; Timed out × 1", or "" when nothing failed."""
    return "; ".join(f"{g.title} × {g.count}" for g in level.run.failures)


@dataclass(frozen=True)
class Knee:
    """Where the load stopped meeting the SLO.

    Attributes:
        last_ok: the highest rate before the first level that broke it; None when the first did.
        first_bad: the first rate whose percentile passed the limit; None when none did.
        sentence: the finding in words ("Above 3.2 req/s the p90 time to first token passes 1 s").
    """

    last_ok: float | None
    first_bad: float | None
    sentence: str


def _fmt_s(value: float) -> str:
    return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:.2g} s" if value < 10 else f"{value:,.0f} s"


def knee(levels: Sequence[LoadRun], slo: Slo) -> Knee | None:
    """The first rate whose p90 TTFT (or e2e, when only that SLO is set) passes the SLO.

    A level where no call succeeded breaks it too. p90 needs 10 successful calls: a level with
    fewer is read at p50 and the sentence says so. None when the SLO sets neither TTFT nor e2e
    or no level finished a call.

    Example:
        >>> from core.patterns.load import LoadSpec
        >>> from core.call.trace import CallTrace, Outcome, StreamChunk
        >>> def level(rate, ttft):
        ...     calls = [CallTrace("r", origin=0.0, finished=1.0, chunks=[StreamChunk(ttft, "a")],
        ...                        outcome=Outcome("complete", finish_reason="stop")) for _ in range(10)]
        ...     run = LoadRun(LoadSpec(rate, requests=10))
        ...     from core.patterns.load import LoadRequest
        ...     run.requests = [LoadRequest(i, "q", 0.0, 0.0, 0.0, c) for i, c in enumerate(calls)]
        ...     return run
        >>> knee([level(1, 0.2), level(2, 0.4), level(4, 1.5)], Slo(ttft_ms=1000)).sentence
        'Above 2 req/s the p90 time to first token passes 1,000 ms (at 4 req/s it is 1.5 s).'
    """
    if slo.ttft_ms is not None:
        key, name, limit = "ttft_s", "time to first token", slo.ttft_ms / 1000
    elif slo.e2e_s is not None:
        key, name, limit = "e2e_s", "end-to-end time", slo.e2e_s
    else:
        return None
    limit_text = f"{limit * 1000:,.0f} ms" if key == "ttft_s" else f"{limit:g} s"
    ordered = sorted(levels, key=lambda lv: lv.spec.rate_per_s)
    if not any(lv.run.succeeded for lv in ordered):
        return None
    last_ok: float | None = None
    worst_ok: float | None = None
    for lv in ordered:
        rate = lv.spec.rate_per_s
        dist = lv.run.distribution(key)
        p = 90 if dist.at(90).value is not None else 50
        value = dist.at(p).value
        if value is None:  # fewer than 2 successful calls: this level broke it
            why = failure_causes(lv) or "none finished"
            sentence = (f"At {rate:g} req/s almost no request succeeded ({why})." if last_ok is None else
                        f"Above {last_ok:g} req/s requests stop succeeding (at {rate:g} req/s: {why}).")
            return Knee(last_ok, rate, sentence)
        if value > limit:
            if last_ok is None:
                sentence = f"Already at {rate:g} req/s the p{p} {name} is {_fmt_s(value)}, above {limit_text}."
            else:
                sentence = (f"Above {last_ok:g} req/s the p{p} {name} passes {limit_text} "
                            f"(at {rate:g} req/s it is {_fmt_s(value)}).")
            return Knee(last_ok, rate, sentence)
        last_ok, worst_ok = rate, max(value, worst_ok or 0.0)
    assert last_ok is not None and worst_ok is not None
    return Knee(last_ok, None, f"Up to {last_ok:g} req/s the p90 {name} stays within {limit_text} "
                               f"(at most {_fmt_s(worst_ok)}).")


def saturation(levels: Sequence[LoadRun]) -> str:
    """Where completions fell behind arrivals, in words ("" when every level kept up).

    A level keeps up while its throughput is at least `KEEPS_UP` of the rate it really offered.
    """
    for lv in sorted(levels, key=lambda lv: lv.spec.rate_per_s):
        offered, done = lv.achieved_rate_per_s, lv.throughput_per_s
        if offered is None or lv.stopped:
            continue
        if (done or 0.0) < KEEPS_UP * offered:
            return (f"At {lv.spec.rate_per_s:g} req/s the endpoint completed {done or 0:.2g} requests a second "
                    f"of the {offered:.2g} that arrived: it could not keep up, so a queue built.")
    return ""


# --- running it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTarget:
    """Where to read the server's own view: a llama.cpp root URL and its key, or headers only."""

    llama_root: str | None = None
    api_key: str = field(default="", repr=False)


def run_sweep(
    rates: Sequence[float],
    spec: LoadSpec,
    prompts: Sequence[str],
    build_llm: Callable[..., BaseChatModel],
    *,
    config: RunnableConfig | None = None,
    secrets: tuple[str, ...] = (),
    server: ServerTarget | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[RateSweep], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> RateSweep:
    """Run `spec` at each rate in turn, in one new event loop with one traced async client.

    `build_llm(http_async_client=...)` must return a new chat model. With `server.llama_root`
    the server's ``/metrics`` and ``/slots`` are polled during each level; otherwise the calls'
    x-ratelimit headers are the server's view ("not reported" when it sends none). A single run
    is a sweep of one rate. `on_progress(sweep)` is called on the script's thread while levels
    run; if it raises (the page's script was stopped), the level in flight is cancelled and
    kept. Call from a thread with no running event loop.
    """
    from core.call.bridge import run_async

    sweep = RateSweep(spec, tuple(rates))
    stop = stop or threading.Event()

    async def work(http: Any) -> RateSweep:
        llm = build_llm(http_async_client=http)
        for rate in rates:
            if stop.is_set():
                sweep.stopped = True
                break
            poller = LlamaPoller(server.llama_root, server.api_key, clock=clock) if server and server.llama_root else None
            current: list[LoadRun] = []

            def started(load: LoadRun, poller: LlamaPoller | None = poller, current: list[LoadRun] = current) -> None:
                sweep.levels.append(load)
                current.append(load)
                if poller is not None:
                    load.server = poller.view
                    poller.start(load.started)

            try:
                level = await run_load(
                    llm, prompts, spec.with_rate(rate), config, secrets=secrets, stop=stop, clock=clock,
                    on_start=started, on_progress=(lambda _: on_progress(sweep)) if on_progress else None,
                )
            except BaseException:
                sweep.stopped = True
                raise
            finally:
                if poller is not None:
                    await poller.stop()
                if current and poller is None:
                    current[0].server = header_view(current[0].run, current[0].started)
            if level.stopped:
                sweep.stopped = True
                break
        sweep.finished = not sweep.stopped
        return sweep

    # One run in an OpenTelemetry export: each rate's load test is its child (run_async's loop
    # runs on this thread, its tasks copy this context).
    with run_group("load sweep", ", ".join(f"{rate:g}" for rate in rates) + " req/s", levels=len(rates)):
        return run_async(work)
