"""A conversation: a run of chat turns, each one traced call, and what every turn cost.

Each turn resends the history, so input tokens, prefill time and cost grow turn after turn —
unless the server's prompt cache serves the shared prefix. The figures of a turn are read from
its `CallTrace` (the one record of a call) and named by where they came from:

* **cached / new input tokens**: LangChain's ``usage_metadata["input_token_details"]["cache_read"]``
  (which langchain-openai fills from the response's ``usage.prompt_tokens_details.cached_tokens``),
  else llama.cpp's own ``timings.cache_n`` (reused) and ``timings.prompt_n`` (processed), else
  "not reported" — never 0;
* **prefill**: llama.cpp's ``timings.prompt_ms``; **TTFT** and output tokens: the trace's metrics;
* **cost**: `core.money.pricing.call_cost`, cached tokens at the price table's cached-input rate;
* **context fullness**: the turn's input + output tokens over the window the server reports
  (`read_context_window`: llama.cpp's ``/props``, the context *per slot*), never assumed.

What each turn sends (keep everything, trim to a budget, summarise older turns) is decided in
`core.patterns.chat_history`; this module holds the records and their accounting.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.call.run import Run
from core.call.trace import COMPLETE, FAILED, CallTrace
from core.call.usage import Usage
from core.money.pricing import CostBreakdown, ModelPrice, call_cost, format_usd

if TYPE_CHECKING:  # langchain_core loads at the first turn, not with the page
    from langchain_core.messages import BaseMessage

    from core.call.errors import CallProblem
    from core.call.models import Endpoint

NOT_REPORTED = "not reported"
#: Where a turn's cached share of input tokens came from (shown beside the number, exported).
CACHE_FROM_USAGE = (
    'LangChain usage_metadata["input_token_details"]["cache_read"] '
    "(from the response's usage.prompt_tokens_details.cached_tokens)"
)
CACHE_FROM_TIMINGS = "llama.cpp timings.cache_n (reused from its cache) + timings.prompt_n (processed)"
INPUT_ONLY = "usage_metadata input_tokens; the endpoint reported no cached share"
PREFILL_FROM_TIMINGS = "llama.cpp timings.prompt_ms (the server's own clock)"


# --- the context window ---------------------------------------------------------------------


@dataclass(frozen=True)
class ContextWindow:
    """How many tokens one conversation can hold, and who said so.

    Attributes:
        tokens: the window, or None when the endpoint does not say.
        source: where the number came from, or why there is none.
    """

    tokens: int | None
    source: str


def read_context_window(endpoint: Endpoint, *, timeout_s: float = 3.0) -> ContextWindow:
    """Ask a llama.cpp server for the context one request gets: ``/props`` → n_ctx per slot.

    llama.cpp splits its context between its slots (the embedded server: 4 slots of 2,048), so
    the whole ``n_ctx`` it was started with is not what a conversation can use. Other endpoints
    publish no window over the OpenAI API: "not reported".
    """
    import httpx

    from core.settings import Provider

    direct = endpoint.direct
    if direct.provider is Provider.OPENAI:
        return ContextWindow(None, "not reported: the OpenAI API does not give a model's context window")
    root = direct.base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {direct.api_key.get_secret_value()}"}
    try:
        response = httpx.get(f"{root}/props", headers=headers, timeout=timeout_s)
        response.raise_for_status()
        props = response.json()
        n_ctx = int(props["default_generation_settings"]["n_ctx"])
    except (httpx.HTTPError, KeyError, TypeError, ValueError):
        return ContextWindow(None, "not reported: the endpoint has no llama.cpp /props to read it from")
    slots = props.get("total_slots")
    per = f" per slot ({slots} slots share the server's context)" if slots else ""
    return ContextWindow(n_ctx, f"the server's /props: default_generation_settings.n_ctx = {n_ctx:,}{per}")


# --- one turn ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputTokens:
    """A turn's input tokens split into cached and new, with the source of the split.

    Attributes:
        total: every input token (cached ones included); None = not reported.
        cached: those the server reused from its prompt cache; None = not reported.
        source: which field the split was read from (`CACHE_FROM_USAGE`, ...).
        server_check: llama.cpp's own count beside the usage's, when both exist.
    """

    total: int | None
    cached: int | None
    source: str
    server_check: str | None = None

    @property
    def new(self) -> int | None:
        """Input tokens the server had to process (prefill): total − cached."""
        if self.total is None or self.cached is None:
            return None
        return max(self.total - self.cached, 0)


def _reports_cache_read(usage: Usage) -> bool:
    return any(key.endswith("cache_read") for key in usage.input_details)


def input_tokens_of(trace: CallTrace) -> InputTokens:
    """Read a call's input tokens, split into cached and new, from its trace.

    Example:
        >>> from core.call.trace import Outcome, ServerReport
        >>> t = CallTrace("r", outcome=Outcome("complete", usage=Usage(94, 40, 134,
        ...     {"cache_read": 72})), server=ServerReport("llama.cpp timings", prompt_tokens=22,
        ...     cached_tokens=72))
        >>> i = input_tokens_of(t)
        >>> i.total, i.cached, i.new, i.server_check
        (94, 72, 22, 'llama.cpp timings agree: cache_n 72 + prompt_n 22 = 94')
        >>> input_tokens_of(CallTrace("r")).source
        'not reported'
    """
    usage = trace.usage
    server = trace.server
    timings = server is not None and server.cached_tokens is not None and server.prompt_tokens is not None
    check = None
    if timings:
        assert server is not None and server.cached_tokens is not None and server.prompt_tokens is not None
        seen = server.cached_tokens + server.prompt_tokens
        if usage is not None:
            verdict = "agree" if (seen == usage.input_tokens and (
                not _reports_cache_read(usage) or usage.cached_input_tokens == server.cached_tokens)) else "differ"
            check = (f"llama.cpp timings {verdict}: cache_n {server.cached_tokens} + prompt_n "
                     f"{server.prompt_tokens} = {seen}")
    if usage is not None and _reports_cache_read(usage):
        return InputTokens(usage.input_tokens, usage.cached_input_tokens, CACHE_FROM_USAGE, check)
    if timings:
        assert server is not None and server.cached_tokens is not None and server.prompt_tokens is not None
        total = usage.input_tokens if usage is not None else server.cached_tokens + server.prompt_tokens
        return InputTokens(total, server.cached_tokens, CACHE_FROM_TIMINGS, check)
    if usage is not None:
        return InputTokens(usage.input_tokens, None, INPUT_ONLY)
    return InputTokens(None, None, NOT_REPORTED)


def priced_usage(trace: CallTrace) -> Usage | None:
    """The call's usage, with its cached share filled from llama.cpp's timings when the usage
    itself did not carry one (so the cached tokens are priced at the cached rate either way)."""
    usage = trace.usage
    if usage is None:
        return None
    split = input_tokens_of(trace)
    if split.source == CACHE_FROM_TIMINGS and split.cached is not None:
        details = {**usage.input_details, "cache_read": split.cached}
        return Usage(usage.input_tokens, usage.output_tokens, usage.total_tokens, details, usage.output_details)
    return usage


def call_cost_of(trace: CallTrace | None, price: ModelPrice | None) -> CostBreakdown | None:
    """A call's cost at `price` (cached input at the cached rate); None when unknown."""
    usage = priced_usage(trace) if trace is not None else None
    if usage is None or price is None:
        return None
    return call_cost(usage, price)


@dataclass(frozen=True)
class SentMessage:
    """One message as a turn sent it (what the model actually saw)."""

    role: str
    content: str


@dataclass(frozen=True)
class SummaryCall:
    """A model call that summarised older turns before a turn was sent.

    Attributes:
        text: the summary that replaced those turns.
        covers_turns: how many of the oldest turns it covers.
        trace: the summarising call's trace (it is costed like any turn).
    """

    text: str
    covers_turns: int
    trace: CallTrace | None


@dataclass
class Turn:
    """One exchange: the user's message, what was sent with it, and the streamed answer.

    Attributes:
        user: the user's message.
        answer: the answer, or what arrived of it.
        trace: the answer's call trace (None if the call never started).
        sent: every message the model saw (system prompt, history as the strategy left it, this
            message).
        sent_tokens: those messages counted before sending, and how (`TokenCount.method`).
        history_note: what the strategy did to the history, in a sentence.
        summary: the summarising call made before this turn, if any.
        cache_off: sent with the server's prompt cache off.
        problem: why the call failed or is incomplete (from the trace, or the runner's own).
    """

    user: str
    answer: str = ""
    trace: CallTrace | None = None
    sent: tuple[SentMessage, ...] = ()
    sent_tokens: int | None = None
    sent_tokens_method: str = ""
    history_note: str = ""
    summary: SummaryCall | None = None
    cache_off: bool = False
    problem: CallProblem | None = None

    @property
    def status(self) -> str:
        """"complete", "incomplete" (a cut stream: the text kept is partial) or "failed"."""
        if self.trace is None or self.trace.outcome is None:
            return FAILED
        return self.trace.status

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE


@dataclass(frozen=True)
class TurnFigures:
    """The numbers shown beside a turn and on the chart, each with its source.

    Attributes:
        number: 1 for the first turn.
        input: input tokens, cached vs new.
        prefill_ms / prefill_source: the server's time reading the prompt; None = not reported.
        trace: the turn's call (its TTFT is ``trace.ttft_s``); None for a call that never started.
        cost_usd: this turn's answer plus any summary made for it; None = unknown.
        cost_label: "$0.000123", "no price" or "not reported".
        cumulative_usd: every turn's cost so far (None once any turn's is unknown).
        context_tokens: tokens in the window after the turn (input + output).
        context_window: the window and its source.
    """

    number: int
    status: str
    input: InputTokens
    prefill_ms: float | None
    prefill_source: str
    trace: CallTrace | None = field(repr=False, compare=False)
    cost_usd: float | None
    cost_label: str
    cumulative_usd: float | None
    context_tokens: int | None
    context_window: ContextWindow

    @property
    def output_tokens(self) -> int | None:
        """As the endpoint reported them (usage); None = not reported."""
        usage = self.trace.usage if self.trace is not None else None
        return usage.output_tokens if usage is not None else None

    @property
    def fullness(self) -> float | None:
        """Share of the context window in use after this turn (0–1), None when unknown."""
        if self.context_tokens is None or not self.context_window.tokens:
            return None
        return self.context_tokens / self.context_window.tokens

    def line(self) -> str:
        """The compact figure line beside an answer.

        Example:
            >>> from core.call.trace import Outcome, StreamChunk
            >>> from core.call.usage import Usage
            >>> t = CallTrace("r", origin=0.0, chunks=[StreamChunk(0.25, "Hi")],
            ...               outcome=Outcome(COMPLETE, "Hi", Usage(94, 40, 134)))
            >>> f = TurnFigures(2, "complete", InputTokens(94, 72, CACHE_FROM_USAGE), 182.6,
            ...     PREFILL_FROM_TIMINGS, t, 0.0001, "$0.000100", 0.0002, 134, ContextWindow(2048, "props"))
            >>> f.line()
            'in 94 (72 cached · 22 new) · prefill 183 ms · TTFT 0.25 s · out 40 · $0.000100 (total $0.000200) · context 7%'
        """
        split, ttft = self.input, self.trace.ttft_s if self.trace is not None else None
        if split.total is None:
            tokens = f"in {NOT_REPORTED}"
        elif split.cached is None:
            tokens = f"in {split.total:,} (cached {NOT_REPORTED})"
        else:
            tokens = f"in {split.total:,} ({split.cached:,} cached · {split.new:,} new)"
        parts = [
            tokens,
            f"prefill {self.prefill_ms:,.0f} ms" if self.prefill_ms is not None else f"prefill {NOT_REPORTED}",
            f"TTFT {ttft:.2f} s" if ttft is not None else "TTFT —",
            f"out {self.output_tokens:,}" if self.output_tokens is not None else f"out {NOT_REPORTED}",
            self.cost_label + (f" (total {format_usd(self.cumulative_usd)})" if self.cumulative_usd is not None else ""),
        ]
        if self.fullness is not None:
            parts.append(f"context {self.fullness:.0%}")
        return " · ".join(parts)

    def as_record(self) -> dict[str, Any]:
        """The figures and their sources, for the JSON export and the report's table."""
        return {
            "turn": self.number,
            "status": self.status,
            "input_tokens": self.input.total,
            "cached_input_tokens": self.input.cached,
            "new_input_tokens": self.input.new,
            "input_tokens_source": self.input.source,
            "server_check": self.input.server_check,
            "prefill_ms": None if self.prefill_ms is None else round(self.prefill_ms, 1),
            "prefill_source": self.prefill_source,
            "ttft_s": None if self.trace is None or self.trace.ttft_s is None else round(self.trace.ttft_s, 4),
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "cost": self.cost_label,
            "cumulative_cost_usd": self.cumulative_usd,
            "context_tokens": self.context_tokens,
            "context_window": self.context_window.tokens,
            "context_window_source": self.context_window.source,
        }


def call_figures(
    number: int,
    trace: CallTrace | None,
    price: ModelPrice | None,
    window: ContextWindow,
    *,
    extra: Sequence[CallTrace | None] = (),
    before_usd: float | None = 0.0,
) -> TurnFigures:
    """The figures of one call (a turn's answer, or a replayed one), read from its trace.

    Args:
        number: the turn's number (1-based).
        trace: the call's trace; None for a call that never started.
        price: the price row to cost it at (None: "no price").
        window: the context window to measure fullness against.
        extra: other calls made for this turn (a summary): their cost is the turn's too.
        before_usd: the cumulative cost before this turn (None: already unknown).
    """
    if trace is None:
        split = InputTokens(None, None, NOT_REPORTED)
        server, usage = None, None
    else:
        split = input_tokens_of(trace)
        server = trace.server
        usage = trace.usage
    prefill = server.prompt_ms if server is not None else None
    costs = [call_cost_of(t, price) for t in (trace, *extra) if t is not None]
    known = bool(costs) and all(c is not None for c in costs)
    cost = sum(c.total_usd for c in costs if c is not None) if known else None
    if cost is not None:
        label = format_usd(cost)
    elif usage is None:
        label = f"cost {NOT_REPORTED}"
    else:
        label = "no price"
    cumulative = None if cost is None or before_usd is None else before_usd + cost
    context = (split.total + usage.output_tokens) if split.total is not None and usage is not None else None
    return TurnFigures(
        number=number,
        status=FAILED if trace is None else trace.status,
        input=split,
        prefill_ms=prefill,
        prefill_source=PREFILL_FROM_TIMINGS if prefill is not None else NOT_REPORTED,
        trace=trace,
        cost_usd=cost,
        cost_label=label,
        cumulative_usd=cumulative,
        context_tokens=context,
        context_window=window,
    )


# --- the conversation -------------------------------------------------------------------------

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer in one or two short sentences."


@dataclass
class Conversation:
    """A chat: the system prompt, the turns so far, and the window they must fit in.

    Attributes:
        system_prompt: the first message of every request.
        turns: every turn, in order (failed and incomplete ones too: they are shown, not resent).
        window: the context window the turns are measured against.
        id: a short id (exports and the page's state name it).
        started_wall: when the conversation began (seconds since the epoch).
    """

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    turns: list[Turn] = field(default_factory=list)
    window: ContextWindow = field(default_factory=lambda: ContextWindow(None, NOT_REPORTED))
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    started_wall: float = field(default_factory=time.time)

    def history(self, *, before: int | None = None) -> list[BaseMessage]:
        """The messages a next turn builds on: the system prompt and every complete exchange.

        Incomplete and failed turns are not resent: a cut answer would teach the model a
        half sentence. `before` stops at that turn's index (a retry resends what preceded it).
        """
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        messages: list[BaseMessage] = [SystemMessage(self.system_prompt)]
        for turn in self.turns[:before]:
            if turn.complete:
                messages += [HumanMessage(turn.user), AIMessage(turn.answer)]
        return messages

    def traces(self) -> list[CallTrace]:
        """Every call the conversation made, in order: summaries and answers."""
        found: list[CallTrace] = []
        for turn in self.turns:
            if turn.summary is not None and turn.summary.trace is not None:
                found.append(turn.summary.trace)
            if turn.trace is not None:
                found.append(turn.trace)
        return found

    def run(self) -> Run:
        """The conversation as a run of calls (answers and summaries): the aggregate every page
        reads — wall time, distributions, tokens, failures by cause."""
        return Run.of(self.traces(), label="turns")

    def figures(self, price: ModelPrice | None) -> list[TurnFigures]:
        """Every turn's figures, the cumulative cost carried from turn to turn."""
        out: list[TurnFigures] = []
        running: float | None = 0.0
        for number, turn in enumerate(self.turns, start=1):
            extra = [turn.summary.trace] if turn.summary is not None else []
            made = call_figures(number, turn.trace, price, self.window, extra=extra, before_usd=running)
            out.append(made)
            running = made.cumulative_usd
        return out


# --- export -----------------------------------------------------------------------------------


def conversation_record(
    conversation: Conversation,
    *,
    strategy: dict[str, Any],
    endpoint: Endpoint,
    price: ModelPrice | None,
    prices_as_of: str,
    secrets: Sequence[str] = (),
    replay: Sequence[TurnFigures] = (),
) -> dict[str, Any]:
    """The conversation as one JSON-ready dict: messages, per-turn figures and their sources,
    the history strategy, and the endpoint without its key.

    Every text goes through `core.call.errors.redact` with the session's keys, so a key pasted into
    a message (or echoed in an error) never leaves in the file.
    """
    from core.call.errors import redact

    def clean(text: str) -> str:
        return redact(text, *secrets)

    direct = endpoint.direct
    turns = []
    for turn, figures in zip(conversation.turns, conversation.figures(price), strict=True):
        turns.append({
            "user": clean(turn.user),
            "answer": clean(turn.answer),
            "status": turn.status,
            "problem": clean(turn.problem.as_text()) if turn.problem else None,
            "cache_off": turn.cache_off,
            "history": clean(turn.history_note),
            "sent": [{"role": m.role, "content": clean(m.content)} for m in turn.sent],
            "sent_tokens_counted": turn.sent_tokens,
            "sent_tokens_method": turn.sent_tokens_method,
            "summary": None if turn.summary is None else {
                "text": clean(turn.summary.text), "covers_turns": turn.summary.covers_turns,
            },
            "figures": figures.as_record(),
        })
    return {
        "conversation": conversation.id,
        "started": dt.datetime.fromtimestamp(conversation.started_wall, dt.UTC).isoformat(timespec="seconds"),
        "endpoint": {
            "provider": direct.provider.label, "base_url": direct.base_url, "model": direct.model,
            "network": endpoint.network, "replay": endpoint.replay,
        },
        "system_prompt": clean(conversation.system_prompt),
        "strategy": strategy,
        "context_window": {"tokens": conversation.window.tokens, "source": conversation.window.source},
        "price": None if price is None else {**price.as_record(), "as_of": prices_as_of},
        "turns": turns,
        "cache_off_replay": [f.as_record() for f in replay],
    }


def turn_problem(turn: Turn) -> CallProblem | None:
    """Why a turn is not complete: the trace's problem, else the runner's own."""
    if turn.trace is not None and turn.trace.outcome is not None and turn.trace.outcome.problem is not None:
        return turn.trace.outcome.problem
    return turn.problem
