"""Endpoints side by side: one prompt streamed to two or three endpoints, and what they measured.

The Compare page races the same prompt on several endpoints at once (one ``astream`` each, on
one event loop) and, with "Repeat N", runs each endpoint N times in turn. This module holds the
logic a test can reach without a browser:

* `EndpointSpec` — what the user picked for one column (which provider, which network preset);
  keys are not part of it: the page resolves them from the sidebar or the environment.
* `interleaved_schedule` — the order of a repeat: round-robin, each round starting one endpoint
  later, so a drift in the machine's speed hits every endpoint alike.
* `stream_one`, `race`, `repeat` — the async runners: every call has its own `CallTrace` (from
  the config's `CallTracer`, the session ledger's), one failing endpoint never stops the others.
* `figures_of`, `summarise`, `ratios` — per-call figures, per-endpoint p50/p90 and the ratios
  between endpoints ("B's first token comes 3.1× later than A's").

Percentiles are `core.call.stats.percentile` (linear interpolation between the closest ranks, the
method numpy calls "linear", its default), as on the Measure panel and the sweep.
"""

from __future__ import annotations

import asyncio
import secrets as _secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from core.call import stats
from core.call.errors import CallProblem, explain_error
from core.call.run import Run
from core.call.trace import CallTrace
from core.call.tracing import ensure_tracer, for_one_call, message_text
from core.export.otel import run_group
from core.money.pricing import PriceTable, call_cost, format_usd
from core.network.conditions import PRESETS
from core.security.keys import without_userinfo
from core.settings import ModelSettings, Provider

Clock = Callable[[], float]

MAX_ENDPOINTS = 3
MAX_REPEAT = 10
PATTERN = "compare"
LETTERS = "ABC"
KIND_NAMES = {
    Provider.LOCAL: "Embedded model",
    Provider.OPENAI: "OpenAI",
    Provider.COMPATIBLE: "OpenAI-compatible",
}


# --- what was picked ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointSpec:
    """One column of a comparison: a provider, its model and base URL, and a network preset.

    Attributes:
        kind: the provider (the embedded model, OpenAI, or any OpenAI-compatible base URL).
        network: a `core.network.conditions.PRESETS` name; "Off" calls the endpoint directly.
        model: the model name ("" = the provider's default: the embedded model's own, or
            OpenAI's default from the environment).
        base_url: for an OpenAI-compatible endpoint, its base URL.

    Example:
        >>> EndpointSpec(Provider.LOCAL, "Remote API ~300 ms").label
        'Embedded model · Remote API ~300 ms'
        >>> EndpointSpec(Provider.COMPATIBLE, model="llama3.2", base_url="http://h:11434/v1").label
        'OpenAI-compatible · llama3.2 @ h:11434'
        >>> EndpointSpec(Provider.COMPATIBLE, replay="Replay: gpt-4o-mini, recorded 2026-12-01 21:50", speed=2).label
        'Replay: gpt-4o-mini, recorded 2026-12-01 21:50 · 2×'

    A replay column (``replay`` = the recording's title) is answered from that recording at
    ``speed`` (1 = the recorded pace, 0 = instant), never from a live endpoint.
    """

    kind: Provider
    network: str = "Off"
    model: str = ""
    base_url: str = ""
    replay: str = ""
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.network not in PRESETS:
            raise ValueError(f"unknown network preset {self.network!r}; choose one of {list(PRESETS)}")

    @property
    def label(self) -> str:
        if self.replay:
            return self.replay + ("" if self.speed == 1 else " · instant" if self.speed == 0 else f" · {self.speed:g}×")
        parts = [KIND_NAMES[self.kind]]
        if self.kind is Provider.COMPATIBLE:
            host = without_userinfo(self.base_url).split("://", 1)[-1].split("/", 1)[0]
            parts.append(f"{self.model or '?'} @ {host or '?'}")
        elif self.kind is Provider.OPENAI and self.model:
            parts.append(self.model)
        if self.network != "Off":
            parts.append(self.network)
        return " · ".join(parts)

    def settings(self, base: ModelSettings, *, model: str, base_url: str, api_key: Any) -> ModelSettings:
        """`base` (the sidebar's temperature, timeout, retries…) pointed at this endpoint."""
        return base.with_changes(provider=self.kind, model=model, base_url=base_url, api_key=api_key)


def column_label(index: int, spec: EndpointSpec) -> str:
    """'A · Embedded model': a letter first, so two columns of the same endpoint stay apart.

    Example:
        >>> column_label(1, EndpointSpec(Provider.LOCAL))
        'B · Embedded model'
    """
    return f"{LETTERS[index]} · {spec.label}"


def interleaved_schedule(endpoints: int, repeat: int) -> list[tuple[int, int]]:
    """The (round, endpoint) pairs of a repeat, in the order they run, one call at a time.

    Round-robin, so a drift in speed (the machine warming up, another program starting) lands on
    every endpoint alike rather than on whichever ran last; each round starts one endpoint later,
    so none is always first after the previous round's call to another.

    Example:
        >>> interleaved_schedule(2, 3)
        [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0), (2, 1)]
        >>> interleaved_schedule(3, 1)
        [(0, 0), (0, 1), (0, 2)]
    """
    if endpoints < 1 or repeat < 1:
        raise ValueError("a schedule needs at least one endpoint and one round")
    return [(r, (r + k) % endpoints) for r in range(repeat) for k in range(endpoints)]


def new_run_id() -> str:
    """A short id tagging every call of one comparison ('compare:<id>' in the ledger)."""
    return _secrets.token_hex(4)


def compare_tags(run_id: str, label: str) -> list[str]:
    """The LangChain tags of a comparison's call: the pattern, the run and the column.

    Example:
        >>> compare_tags("ab12", "A · Embedded model")
        ['lab:compare', 'compare:ab12', 'endpoint:A · Embedded model']
    """
    return [f"lab:{PATTERN}", f"{PATTERN}:{run_id}", f"endpoint:{label}"]


# --- running -----------------------------------------------------------------------------------


@dataclass
class CompareCall:
    """One call of a comparison: which column, which round, what arrived and its trace.

    Attributes:
        endpoint: the column's index (0 = A).
        round: the repeat round (0 for a race).
        text: the answer, or what arrived of it.
        trace: the call's trace (None when the call never reached the model).
        problem: what went wrong (an error, or a stream that ended without a finish reason).
        started_s / ended_s: seconds from the start of the whole comparison.
    """

    endpoint: int
    round: int
    text: str = ""
    trace: CallTrace | None = None
    problem: CallProblem | None = None
    started_s: float | None = None
    ended_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class CompareRun:
    """A finished race or repeat: its id, the columns' labels, the prompt and every call."""

    run_id: str
    kind: str  # "race" or "repeat"
    labels: list[str]
    prompt: str
    calls: list[CompareCall] = field(default_factory=list)
    wall_s: float | None = None
    models: list[str] = field(default_factory=list)
    replays: list[bool] = field(default_factory=list)  # per column: answered from a recording

    def is_replay(self, endpoint: int) -> bool:
        """Whether column `endpoint` was a replay (shown with a badge, never passed off as live)."""
        return endpoint < len(self.replays) and self.replays[endpoint]

    def calls_of(self, endpoint: int) -> list[CompareCall]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def last_call(self, endpoint: int) -> CompareCall | None:
        calls = self.calls_of(endpoint)
        return calls[-1] if calls else None

    @property
    def rounds(self) -> int:
        return 1 + max((c.round for c in self.calls), default=-1)


async def stream_one(
    llm: BaseChatModel,
    prompt: str,
    config: RunnableConfig | None,
    *,
    endpoint: int,
    round: int = 0,
    secrets: Sequence[str] = (),
    on_chunk: Callable[[int, str], None] | None = None,
    started: float | None = None,
    clock: Clock = time.perf_counter,
) -> CompareCall:
    """Stream `prompt` from `llm` once; never raises for a failed call (the problem is kept).

    The call is traced by the config's `CallTracer` (a new one if it has none); `on_chunk`
    receives `(endpoint, text)` for every text chunk, on the loop's thread.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage("a b")]))
        >>> call = asyncio.run(stream_one(fake, "hi", None, endpoint=1))
        >>> call.endpoint, call.text, call.ok, call.trace.status
        (1, 'a b', True, 'complete')
    """
    began = clock()
    zero = began if started is None else started
    base, tracer = ensure_tracer(config, pattern=PATTERN, secrets=tuple(secrets), clock=clock)
    call_config, run_id = for_one_call(base, tracer, began)
    call = CompareCall(endpoint=endpoint, round=round, started_s=began - zero)
    try:
        async for chunk in llm.astream(prompt, config=call_config):
            text = message_text(chunk)
            if text:
                call.text += text
                if on_chunk is not None:
                    on_chunk(endpoint, text)
    except Exception as exc:  # this endpoint failed; the others go on
        trace = tracer.trace(run_id)
        call.problem = explain_error(exc, *secrets, *tracer.secrets, evidence=trace.attempt if trace else None)
        if trace is not None and trace.outcome is not None:
            trace.outcome.problem = call.problem
    call.ended_s = clock() - zero
    call.trace = tracer.trace(run_id)
    if call.trace is not None:
        call.trace.finished = call.trace.finished or clock()
        outcome = call.trace.outcome
        if call.problem is None and outcome is not None and outcome.problem is not None:
            call.problem = outcome.problem  # e.g. a stream that ended without a finish reason
    return call


async def race(
    llms: Sequence[BaseChatModel],
    prompt: str,
    configs: Sequence[RunnableConfig | None],
    *,
    secrets: Sequence[Sequence[str]] = (),
    on_chunk: Callable[[int, str], None] | None = None,
    clock: Clock = time.perf_counter,
) -> list[CompareCall]:
    """One ``astream`` per endpoint, all at once; the calls in endpoint order.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> fakes = [GenericFakeChatModel(messages=iter([AIMessage(t)])) for t in ("x y", "z")]
        >>> [c.text for c in asyncio.run(race(fakes, "hi", [None, None]))]
        ['x y', 'z']
    """
    started = clock()
    keys = list(secrets) or [()] * len(llms)
    with run_group("compare race", f"{len(llms)} endpoints", endpoints=len(llms)):
        return list(
            await asyncio.gather(
                *(
                    stream_one(llm, prompt, configs[i], endpoint=i, secrets=keys[i], on_chunk=on_chunk,
                               started=started, clock=clock)
                    for i, llm in enumerate(llms)
                )
            )
        )


async def repeat(
    llms: Sequence[BaseChatModel],
    prompt: str,
    configs: Sequence[RunnableConfig | None],
    rounds: int,
    *,
    secrets: Sequence[Sequence[str]] = (),
    on_call_start: Callable[[int, int], None] | None = None,
    on_chunk: Callable[[int, str], None] | None = None,
    clock: Clock = time.perf_counter,
) -> list[CompareCall]:
    """Each endpoint `rounds` times, one call at a time, in `interleaved_schedule` order.

    One at a time, so the endpoints never compete for the same machine (the embedded model and
    the embedded model behind the proxy share its cores); `on_call_start(round, endpoint)` is
    called before each call.

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> fakes = [FakeListChatModel(responses=[name]) for name in ("a", "b")]
        >>> calls = asyncio.run(repeat(fakes, "hi", [None, None], 2))
        >>> [(c.round, c.endpoint, c.text) for c in calls]
        [(0, 0, 'a'), (0, 1, 'b'), (1, 1, 'b'), (1, 0, 'a')]
    """
    started = clock()
    keys = list(secrets) or [()] * len(llms)
    calls: list[CompareCall] = []
    with run_group("compare repeat", f"{len(llms)} endpoints × {rounds}", endpoints=len(llms), rounds=rounds):
        for round_, index in interleaved_schedule(len(llms), rounds):
            if on_call_start is not None:
                on_call_start(round_, index)
            calls.append(
                await stream_one(llms[index], prompt, configs[index], endpoint=index, round=round_,
                                 secrets=keys[index], on_chunk=on_chunk, started=started, clock=clock)
            )
    return calls


# --- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFigures:
    """What one column shows for a call: its trace, which knows every timing (``.trace.ttft_s``,
    ``.output_tokens_per_s``, ``.e2e_s``), and what only the compare knows: price and status.

    Attributes:
        trace: the call's trace; None when the call never reached the model.
        cost_usd: from the price table; None with no usage or no price (see `cost_text`).
        cost_text: the cost as shown: "$0.000012", "no price", or "usage not reported".
        status: "complete", "incomplete", "failed" (or "running").
        model: the model the endpoint says answered, else the one requested.
    """

    trace: CallTrace | None
    cost_usd: float | None
    cost_text: str
    status: str
    model: str | None

    @property
    def input_tokens(self) -> int | None:
        """As the endpoint reported them (usage); None when not."""
        usage = self.trace.usage if self.trace is not None else None
        return usage.input_tokens if usage is not None else None

    @property
    def output_tokens(self) -> int | None:
        """As the endpoint reported them (usage); None when not."""
        usage = self.trace.usage if self.trace is not None else None
        return usage.output_tokens if usage is not None else None

    @property
    def finish_reason(self) -> str | None:
        return self.trace.finish_reason if self.trace is not None else None


def figures_of(call: CompareCall, prices: PriceTable) -> CallFigures:
    """The call's trace with its price and status.

    Example:
        >>> from core.call.trace import Outcome, StreamChunk
        >>> from core.call.usage import Usage
        >>> t = CallTrace("r", origin=0.0, finished=1.0, streamed=True, model_requested="m",
        ...               chunks=[StreamChunk(0.25, "a"), StreamChunk(0.75, "b")])
        >>> t.outcome = Outcome("complete", "ab", Usage(5, 2, 7), "stop", "m")
        >>> f = figures_of(CompareCall(0, 0, "ab", t), PriceTable((), "2026-11-24", "test"))
        >>> f.trace.ttft_s, f.trace.output_tokens_per_s, f.trace.e2e_s, f.output_tokens, f.cost_text
        (0.25, 2.0, 1.0, 2, 'no price')
    """
    trace = call.trace
    if trace is None:
        return CallFigures(None, None, "usage not reported", "failed", None)
    usage = trace.usage
    model = trace.model
    price = prices.price_for(model)
    if usage is None:
        cost, cost_text = None, "usage not reported"
    elif price is None:
        cost, cost_text = None, "no price"
    else:
        outcome = trace.outcome
        service_tier = (outcome.response_metadata.get("service_tier") if outcome else None) or None
        cost = call_cost(usage, price, service_tier=service_tier).total_usd
        cost_text = format_usd(cost)
    status = "failed" if call.problem is not None and call.problem.kind != "incomplete" else trace.status
    return CallFigures(trace=trace, cost_usd=cost, cost_text=cost_text, status=status, model=model)


@dataclass(frozen=True)
class Spread:
    """p50 and p90 of one figure over an endpoint's calls, and how many calls measured it.

    Unlike `core.call.stats.distribution`, p90 is shown from any sample size: a compare repeats a
    few rounds, and its p90 says so by its ``n``.
    """

    p50: float | None
    p90: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread:
        """Example:
        >>> Spread.of([0.5, None, 0.1, 0.3, 0.2, 0.4])
        Spread(p50=0.3, p90=0.46, n=5)
        """
        measured = [v for v in values if v is not None]
        if not measured:
            return cls(None, None, 0)
        # Float noise from interpolation is not a measurement.
        return cls(round(stats.percentile(measured, 50), 12), round(stats.percentile(measured, 90), 12), len(measured))


@dataclass(frozen=True)
class EndpointSummary:
    """One column over all its calls: its failures, its total cost, and the calls that finished
    as a `Run`, whose traces give every spread.

    Attributes:
        measured: the calls that did not fail (their traces), for `spread`.
    """

    endpoint: int
    label: str
    calls: int
    failures: int
    measured: Run
    cost_usd: float | None
    cost_text: str

    def spread(self, figure: str) -> Spread:
        """p50/p90 of one of the trace's figures ("ttft_s", "e2e_s", "output_tokens_per_s") over
        the calls that finished, or of "reported_output_tokens" (usage only, never counted);
        a call that could not measure it is left out."""
        if figure == "reported_output_tokens":
            return Spread.of([t.usage.output_tokens if t.usage is not None else None for t in self.measured])
        return Spread.of([getattr(t, figure) for t in self.measured])


def summarise(run: CompareRun, prices: PriceTable) -> list[EndpointSummary]:
    """Per endpoint: its calls that finished as a run (p50/p90 of TTFT, e2e and tokens/s through
    `EndpointSummary.spread`), its failures and its cost.

    Failed calls count as failures and are left out of the percentiles (a failure's "TTFT" is
    not a speed). Cost is the sum over calls when every call has one, else its reason.

    Example:
        >>> from core.call.trace import Outcome, StreamChunk
        >>> def call(i, r, ttft):
        ...     t = CallTrace(f"{i}{r}", origin=0.0, finished=1.0, streamed=True,
        ...                   chunks=[StreamChunk(ttft, "a"), StreamChunk(0.9, "b")])
        ...     t.outcome = Outcome("complete", "ab", None, "stop")
        ...     return CompareCall(i, r, "ab", t)
        >>> run = CompareRun("x", "repeat", ["A", "B"], "hi",
        ...                  [call(0, 0, 0.1), call(1, 0, 0.4), call(0, 1, 0.3), call(1, 1, 0.6)])
        >>> [(s.label, s.spread("ttft_s").p50, s.cost_text) for s in summarise(run, PriceTable((), "d", "s"))]
        [('A', 0.2, 'usage not reported'), ('B', 0.5, 'usage not reported')]
    """
    summaries = []
    for index, label in enumerate(run.labels):
        calls = run.calls_of(index)
        figures = [figures_of(c, prices) for c in calls]
        finished = [f.trace for f in figures if f.status != "failed" and f.trace is not None]
        costs = [f.cost_usd for f in figures]
        if figures and all(c is not None for c in costs):
            cost: float | None = sum(c for c in costs if c is not None)
            cost_text = format_usd(cost)
        else:
            cost = None
            reasons = {f.cost_text for f in figures if f.cost_usd is None}
            cost_text = "no price" if "no price" in reasons else "usage not reported"
        summaries.append(
            EndpointSummary(
                endpoint=index,
                label=label,
                calls=len(calls),
                failures=len(calls) - len(finished),
                measured=Run(label, finished),
                cost_usd=cost,
                cost_text=cost_text,
            )
        )
    return summaries


@dataclass(frozen=True)
class Ratio:
    """How one endpoint compares with the first (A) on one figure's p50."""

    figure: str  # "ttft", "total" or "tokens_per_s"
    baseline: str
    other: str
    factor: float  # other's p50 / baseline's p50
    sentence: str


def _letter(label: str) -> str:
    return label.split(" · ", 1)[0]


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def ratios(summaries: Sequence[EndpointSummary], *, same_within: float = 0.05) -> list[Ratio]:
    """Each other endpoint against the first, on p50 TTFT, total and tokens/s, in words.

    A factor within `same_within` of 1 reads "about the same". Figures an endpoint could not
    measure give no ratio (never a ratio against zero).

    Example:
        >>> from core.call.trace import Outcome, StreamChunk
        >>> def column(i: int, label: str, ttft: float, e2e: float, tokens_per_s: float) -> EndpointSummary:
        ...     t = CallTrace("r", origin=0.0, finished=e2e, outcome=Outcome("complete"),
        ...                   chunks=[StreamChunk(ttft, "a"), StreamChunk(ttft + 1 / tokens_per_s, "b")])
        ...     return EndpointSummary(i, label, 1, 0, Run(label, [t]), None, "no price")
        >>> a, b = column(0, "A · x", 0.1, 1.0, 50.0), column(1, "B · y", 0.31, 1.02, 25.0)
        >>> for r in ratios([a, b]): print(r.sentence)
        B's first token comes 3.1× later than A's (310 ms vs 100 ms).
        B's whole answer takes about as long as A's (1.02 s vs 1.00 s).
        B streams 2.0× slower than A (25.0 vs 50.0 tokens/s).
    """
    if len(summaries) < 2:
        return []
    base = summaries[0]
    a = _letter(base.label)
    found: list[Ratio] = []
    for other in summaries[1:]:
        b = _letter(other.label)
        pairs = (
            ("ttft", base.spread("ttft_s").p50, other.spread("ttft_s").p50),
            ("total", base.spread("e2e_s").p50, other.spread("e2e_s").p50),
            ("tokens_per_s", base.spread("output_tokens_per_s").p50, other.spread("output_tokens_per_s").p50),
        )
        for figure, mine, theirs in pairs:
            if not mine or not theirs:
                continue
            factor = theirs / mine
            found.append(Ratio(figure, base.label, other.label, factor, _sentence(figure, a, b, mine, theirs, factor, same_within)))
    return found


def _sentence(figure: str, a: str, b: str, mine: float, theirs: float, factor: float, same: float) -> str:
    alike = abs(factor - 1) <= same
    if figure == "tokens_per_s":
        numbers = f"({theirs:.1f} vs {mine:.1f} tokens/s)"
        if alike:
            return f"{b} streams about as fast as {a} {numbers}."
        if factor > 1:
            return f"{b} streams {factor:.1f}× faster than {a} {numbers}."
        return f"{b} streams {1 / factor:.1f}× slower than {a} {numbers}."
    numbers = f"({_seconds(theirs)} vs {_seconds(mine)})"
    if figure == "ttft":
        if alike:
            return f"{b}'s first token comes about as soon as {a}'s {numbers}."
        if factor > 1:
            return f"{b}'s first token comes {factor:.1f}× later than {a}'s {numbers}."
        return f"{b}'s first token comes {1 / factor:.1f}× sooner than {a}'s {numbers}."
    if alike:
        return f"{b}'s whole answer takes about as long as {a}'s {numbers}."
    if factor > 1:
        return f"{b}'s whole answer takes {factor:.1f}× as long as {a}'s {numbers}."
    return f"{b}'s whole answer takes {1 / factor:.1f}× less time than {a}'s {numbers}."
