"""Open-loop load: requests arrive at a rate, whether or not the earlier ones have finished.

The Batch page's sweep holds concurrency fixed: a request starts only when another ends (a closed
loop), so a queue never builds the way it does when users arrive on their own. Here requests
arrive on a schedule drawn from a seed — constant, Poisson or gamma inter-arrival times, like vLLM
``bench serve --request-rate --burstiness``, GuideLLM ``--rate-type`` and AIPerf
``--arrival-pattern`` — and each is one traced, streamed call through ``ChatOpenAI.astream``.

Three moments per request, each on the `time.perf_counter` clock and kept in seconds from the
run's start:

* **scheduled**: when the schedule says it arrives;
* **released**: when the generator's timer actually fired (released − scheduled is the
  generator's own lag, which the bench bounds);
* **sent**: when the call began. Without a cap it is the release; with `max_in_flight` the
  request first waits for a free place — the *client's* queue (sent − released, "cap wait"),
  kept apart from the server's own queue (its deferred requests, `core.patterns.server_view`).

A call's figures (TTFT, ITL, TPOT, e2e, tokens/s) count from *sent*, as its `CallTrace` derives
them; the run's aggregate is a `core.call.run.Run`. Failed calls count against goodput and never
enter a latency figure.

Bounds: never more requests than asked for, never an arrival after the duration asked for.
**Stop** (`stop` set, or the page's script stopped) ends arrivals at once and *cancels* the
calls in flight: they are kept as "cancelled by Stop", outside every figure. A presenter
stopping a saturated run wants the screen back now, not after the queue drains; the requests
that finished are all there. Without Stop, a run that reaches its count or duration lets its
calls in flight finish (they are part of the load).

Example:
    >>> spec = LoadSpec(rate_per_s=2.0, arrival=Arrival.CONSTANT, requests=4)
    >>> arrival_offsets(spec)
    [0.0, 0.5, 1.0, 1.5]
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from core.call.run import Run
from core.call.stats import Distribution, distribution
from core.call.trace import CallTrace
from core.export.otel import run_group

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]

#: A sane ceiling: above this the lab's own client on a small machine is what would be measured.
MAX_RATE_PER_S = 50.0
#: The longest run the page allows (a presenter's run, not a soak test).
MAX_DURATION_S = 300.0
#: The most requests one run may send.
MAX_REQUESTS = 2000
#: Gamma shape limits: below 0.05 nearly every request lands in one burst; above 20 it is constant.
MIN_BURSTINESS, MAX_BURSTINESS = 0.05, 20.0
#: How often `on_progress` is called while the run goes.
PROGRESS_EVERY_S = 0.25


class LoadSpecError(ValueError):
    """A load the lab will not run; the message says what to change."""


class Arrival(str, enum.Enum):
    """How the gaps between arrivals are drawn."""

    CONSTANT = "constant"  # every gap 1 / rate
    POISSON = "poisson"  # exponential gaps: independent users (coefficient of variation 1)
    GAMMA = "gamma"  # gamma gaps of shape `burstiness`: < 1 burstier than Poisson, > 1 smoother

    @property
    def label(self) -> str:
        return {
            Arrival.CONSTANT: "Constant (evenly spaced)",
            Arrival.POISSON: "Poisson (independent users)",
            Arrival.GAMMA: "Gamma (bursty)",
        }[self]


@dataclass(frozen=True)
class LoadSpec:
    """What load to offer.

    Attributes:
        rate_per_s: the target arrival rate (requests per second).
        arrival: how the gaps between arrivals are drawn.
        burstiness: the gamma shape (1 = Poisson; 0.5 burstier; 4 smoother). Gamma only.
        requests: stop arriving after this many; None = only the duration bounds the run.
        duration_s: stop arriving at this many seconds; None = only the count bounds it.
        max_in_flight: at most this many calls at once (the rest wait client-side); None = no cap.
        seed: the schedule's seed (the same seed gives the same arrivals).

    Raises:
        LoadSpecError: a rate ≤ 0 or above `MAX_RATE_PER_S`, no bound, a bound past its limit,
            a cap below 1, a burstiness out of range.
    """

    rate_per_s: float
    arrival: Arrival = Arrival.POISSON
    burstiness: float = 1.0
    requests: int | None = 20
    duration_s: float | None = None
    max_in_flight: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        rate = self.rate_per_s
        if math.isnan(rate) or rate <= 0:
            raise LoadSpecError(f"The rate must be more than 0 requests a second (got {rate!r}).")
        if rate > MAX_RATE_PER_S:
            raise LoadSpecError(
                f"{rate:g} requests a second is above the lab's ceiling of {MAX_RATE_PER_S:g}: at that "
                "rate this machine's own client, not the endpoint, is what you would measure. "
                "Use a dedicated load tool (vLLM bench, GuideLLM) for more."
            )
        if self.requests is None and self.duration_s is None:
            raise LoadSpecError("Set a number of requests or a duration: an open-ended load never stops.")
        if self.requests is not None and not 1 <= self.requests <= MAX_REQUESTS:
            raise LoadSpecError(f"The number of requests must be between 1 and {MAX_REQUESTS} (got {self.requests}).")
        if self.duration_s is not None:
            if math.isnan(self.duration_s) or self.duration_s <= 0:
                raise LoadSpecError(f"The duration must be more than 0 seconds (got {self.duration_s!r}).")
            if self.duration_s > MAX_DURATION_S:
                raise LoadSpecError(
                    f"A run lasts at most {MAX_DURATION_S:g} s here (got {self.duration_s:g} s); "
                    "a longer soak test belongs on a dedicated machine."
                )
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise LoadSpecError(f"The cap on calls in flight must be at least 1 (got {self.max_in_flight}).")
        if self.arrival is Arrival.GAMMA and not MIN_BURSTINESS <= self.burstiness <= MAX_BURSTINESS:
            raise LoadSpecError(
                f"Burstiness must be between {MIN_BURSTINESS:g} and {MAX_BURSTINESS:g} (got {self.burstiness:g}); "
                "1 is Poisson."
            )

    def with_rate(self, rate_per_s: float) -> LoadSpec:
        """The same load at another rate (a sweep's next level)."""
        return LoadSpec(rate_per_s, self.arrival, self.burstiness, self.requests, self.duration_s,
                        self.max_in_flight, self.seed)

    def describe(self) -> str:
        """The load in words.

        Example:
            >>> LoadSpec(2.0, requests=30, max_in_flight=4).describe()
            '2 req/s, Poisson (independent users), 30 requests, at most 4 in flight, seed 0'
        """
        parts = [f"{self.rate_per_s:g} req/s", self.arrival.label]
        if self.arrival is Arrival.GAMMA:
            parts[-1] += f" shape {self.burstiness:g}"
        if self.requests is not None:
            parts.append(f"{self.requests} requests")
        if self.duration_s is not None:
            parts.append(f"up to {self.duration_s:g} s")
        if self.max_in_flight is not None:
            parts.append(f"at most {self.max_in_flight} in flight")
        parts.append(f"seed {self.seed}")
        return ", ".join(parts)


def _gap(spec: LoadSpec, rng: random.Random) -> float:
    if spec.arrival is Arrival.CONSTANT:
        return 1.0 / spec.rate_per_s
    if spec.arrival is Arrival.POISSON:
        return rng.expovariate(spec.rate_per_s)
    # Gamma with shape k and mean 1/rate: scale = 1 / (rate · k). Its CoV is 1/√k (vLLM's burstiness).
    return rng.gammavariate(spec.burstiness, 1.0 / (spec.rate_per_s * spec.burstiness))


def iter_offsets(spec: LoadSpec) -> Iterator[float]:
    """Arrival times in seconds from the run's start: the first at 0, then one gap after another.

    Stops at the request count, or before the first arrival at or past the duration.
    """
    rng = random.Random(spec.seed)
    at, sent = 0.0, 0
    while True:
        if spec.requests is not None and sent >= spec.requests:
            return
        if spec.duration_s is not None and at >= spec.duration_s:
            return
        yield at
        sent += 1
        # Constant gaps are multiplied, not added: ten 0.1 s gaps must reach 1.0, not 0.999….
        at = sent / spec.rate_per_s if spec.arrival is Arrival.CONSTANT else at + _gap(spec, rng)


def arrival_offsets(spec: LoadSpec) -> list[float]:
    """Every arrival of the schedule (see `iter_offsets`).

    Example:
        >>> len(arrival_offsets(LoadSpec(10.0, requests=None, duration_s=1.0, arrival=Arrival.CONSTANT)))
        10
    """
    return list(iter_offsets(spec))


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Standard deviation ÷ mean (population); None below 2 values or for a zero mean.

    Exponential gaps (Poisson arrivals) have 1; constant gaps 0; gamma of shape k has 1/√k.

    Example:
        >>> coefficient_of_variation([1.0, 1.0, 1.0])
        0.0
    """
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    if mean <= 0:
        return None
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return math.sqrt(var) / mean


# --- the record --------------------------------------------------------------------------------


@dataclass
class LoadRequest:
    """One arrival and what became of it.

    Attributes:
        index: its place in the schedule.
        prompt: what it asked.
        scheduled_s: when the schedule said it arrives (seconds from the run's start).
        released_s: when the generator released it; None = never (Stop came first).
        sent_s: when the call began (after any wait for the cap); None = never sent.
        trace: the call's trace once it began (its figures count from `sent_s`).
        cancelled: Stop cancelled it in flight or while it waited for the cap.
    """

    index: int
    prompt: str
    scheduled_s: float
    released_s: float | None = None
    sent_s: float | None = None
    trace: CallTrace | None = field(default=None, repr=False)
    cancelled: bool = False

    @property
    def lag_s(self) -> float | None:
        """The generator's own lag: scheduled → released."""
        return None if self.released_s is None else self.released_s - self.scheduled_s

    @property
    def cap_wait_s(self) -> float | None:
        """The client's queue: released → sent (0 without a cap)."""
        if self.released_s is None or self.sent_s is None:
            return None
        return self.sent_s - self.released_s

    @property
    def state(self) -> str:
        """"not sent", "waiting for the cap", "in flight", "cancelled by Stop", or the call's status."""
        if self.cancelled:
            return "cancelled by Stop"
        if self.trace is not None and self.trace.outcome is not None:
            return self.trace.status
        if self.sent_s is not None:
            return "in flight"
        if self.released_s is not None:
            return "waiting for the cap"
        return "not sent"


@dataclass
class LoadRun:
    """One open-loop run: its schedule, each request's fate, and the calls as a `Run`.

    Attributes:
        spec: the load asked for.
        label: a name for tables ("2 req/s").
        requests: every arrival released so far (and the ones Stop left unsent are not here).
        started: `time.perf_counter()` at the run's start (time 0 of every relative figure).
        ended: when the last call finished (None while running).
        stopped: Stop ended it before its count or duration.
        server: the server's own view polled during the run (`core.patterns.server_view.ServerView`),
            or None when nobody polled.
    """

    spec: LoadSpec
    label: str = ""
    requests: list[LoadRequest] = field(default_factory=list)
    started: float = 0.0
    ended: float | None = None
    stopped: bool = False
    server: Any = None

    @property
    def run(self) -> Run:
        """The calls that began and were not cancelled, as a `Run` (its wall time is this run's)."""
        traces = [r.trace for r in self.requests if r.trace is not None and not r.cancelled]
        return Run(self.label, traces, started=self.started, ended=self.ended)

    @property
    def released(self) -> list[LoadRequest]:
        return [r for r in self.requests if r.released_s is not None]

    @property
    def sent(self) -> int:
        return sum(1 for r in self.requests if r.sent_s is not None)

    @property
    def cancelled(self) -> int:
        return sum(1 for r in self.requests if r.cancelled)

    @property
    def achieved_rate_per_s(self) -> float | None:
        """Arrivals released per second: (n − 1) ÷ (last release − first release); None below 2.

        The rate the generator really offered, to read against `spec.rate_per_s`. Over a short
        Poisson run it differs from the target by chance as much as by lag (±1/√n).
        """
        times = sorted(r.released_s for r in self.released if r.released_s is not None)
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def lag(self) -> Distribution:
        """The generator's lag (scheduled → released) over every released request."""
        return distribution("lag_s", [r.lag_s for r in self.requests if r.lag_s is not None])

    @property
    def cap_wait(self) -> Distribution:
        """Time spent waiting for the cap (the client's queue) over every sent request."""
        return distribution("cap_wait_s", [r.cap_wait_s for r in self.requests if r.cap_wait_s is not None])

    @property
    def throughput_per_s(self) -> float | None:
        """Successful calls per second of the run's wall time (`Run.request_throughput`)."""
        return self.run.request_throughput

    @property
    def output_tokens_per_s(self) -> float | None:
        """Output tokens of the successful calls per second of wall time (`Run.output_token_throughput`)."""
        return self.run.output_token_throughput

    def in_flight_at(self, moment_s: float) -> int:
        """Calls in flight (sent, not yet ended) at `moment_s` seconds from the start."""
        count = 0
        for r in self.requests:
            if r.sent_s is None or r.sent_s > moment_s:
                continue
            end = r.trace.end if r.trace is not None else None
            if end is None or end - self.started > moment_s:
                count += 1
        return count


# --- the runner --------------------------------------------------------------------------------


async def run_load(
    llm: BaseChatModel,
    prompts: Sequence[str],
    spec: LoadSpec,
    config: RunnableConfig | None = None,
    *,
    label: str = "",
    secrets: tuple[str, ...] = (),
    stop: threading.Event | None = None,
    on_progress: Callable[[LoadRun], None] | None = None,
    on_start: Callable[[LoadRun], None] | None = None,
    clock: Clock = time.perf_counter,
    sleep: Sleep = asyncio.sleep,
) -> LoadRun:
    """Offer `spec`'s load to `llm`: each arrival one ``llm.astream`` of the next prompt (cycled).

    Every call is traced (`core.call.tracing.CallTracer`, the config's or a new one). A call that
    fails is kept with its problem; one that Stop cancels is kept as cancelled. `on_start(run)`
    is called once at time 0 (a poller of the server's view starts there); `on_progress(run)`
    every `PROGRESS_EVERY_S` on this loop's thread — if it raises (a Streamlit script stopped),
    arrivals end and the calls in flight are cancelled, as with `stop`.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage("a b")] * 3))
        >>> done = asyncio.run(run_load(fake, ["q"], LoadSpec(50.0, requests=3, arrival=Arrival.CONSTANT)))
        >>> done.sent, done.run.succeeded, [r.state for r in done.requests]
        (3, 3, ['complete', 'complete', 'complete'])
    """
    from core.call.tracing import ensure_tracer, failed_outcome, for_one_call

    if not prompts:
        raise LoadSpecError("Give at least one prompt to send.")
    config, tracer = ensure_tracer(config, secrets=secrets, clock=clock)
    secrets = secrets + tracer.secrets
    load = LoadRun(spec, label or f"{spec.rate_per_s:g} req/s", started=clock())
    cap = asyncio.Semaphore(spec.max_in_flight) if spec.max_in_flight else None
    tasks: set[asyncio.Task[None]] = set()
    stop = stop or threading.Event()

    async def call(request: LoadRequest) -> None:
        run_id = None
        try:
            if cap is not None:
                await cap.acquire()
            try:
                origin = clock()
                request.sent_s = origin - load.started
                call_config, run_id = for_one_call(config, tracer, origin, tags=[*config.get("tags", []), f"request:{request.index}"])
                try:
                    async for _ in llm.astream(request.prompt, config=call_config):
                        pass  # the tracer stamps every chunk; nothing to do per chunk here
                except Exception as exc:  # kept with its problem; the other requests go on
                    trace = tracer.trace(run_id)
                    if trace is None:  # failed before LangChain started the model run
                        trace = CallTrace(str(run_id), pattern=tracer.pattern, origin=origin)
                        trace.outcome = failed_outcome(exc, None, secrets)
                    request.trace = trace
                else:
                    request.trace = tracer.trace(run_id)
                if request.trace is not None:
                    request.trace.finished = clock()
            finally:
                if cap is not None:
                    cap.release()
        except asyncio.CancelledError:
            request.cancelled = True
            if run_id is not None and request.trace is None:
                request.trace = tracer.trace(run_id)
            raise

    async def arrivals() -> None:
        for index, offset in enumerate(iter_offsets(spec)):
            due = load.started + offset
            while not stop.is_set():
                left = due - clock()
                if left <= 0:
                    break
                await sleep(min(left, 0.05))  # wake at least every 50 ms to see Stop
            if stop.is_set():
                load.stopped = True
                return
            request = LoadRequest(index, prompts[index % len(prompts)], offset, released_s=clock() - load.started)
            load.requests.append(request)
            task = asyncio.ensure_future(call(request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    # One run in an OpenTelemetry export: the arrivals' tasks copy this context, so every call
    # is a child of the load test's span.
    with run_group("load test", load.label, rate_per_s=spec.rate_per_s, arrival=spec.arrival.value):
        if on_start is not None:
            on_start(load)
        generator = asyncio.ensure_future(arrivals())
        try:
            while True:
                await asyncio.wait({generator}, timeout=PROGRESS_EVERY_S)
                if on_progress is not None:
                    on_progress(load)
                if stop.is_set():
                    load.stopped = True
                    break
                if generator.done() and not tasks:
                    break
            generator.result()  # an error in the generator itself is not a call failure
        except BaseException:  # on_progress raised (the script stopped), or this task was cancelled
            load.stopped = True
            raise
        finally:
            await _cancel(generator, tasks)
            if any(r.cancelled for r in load.requests):
                load.stopped = True
            # A run that ran out ends with its last call, not with the progress tick that noticed.
            ends = [t.end for t in load.run if t.end is not None]
            load.ended = clock() if load.stopped or not ends else max(ends)
        return load


async def _cancel(generator: asyncio.Future[None], tasks: set[asyncio.Task[None]]) -> None:
    """Stop arrivals and cancel the calls still in flight; wait until they have unwound."""
    pending = [t for t in (generator, *tasks) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
