"""What each chat turn sends: the history strategy, counting tokens, refusing what cannot fit.

Three strategies, each LangChain's own way of doing it:

* **keep everything**: the system prompt, every complete exchange, the new message;
* **trim** with `langchain_core.messages.trim_messages` to a token budget, keeping the system
  prompt (``include_system=True``), dropping the oldest messages first (``strategy="last"``),
  and starting the kept history on a user message (``start_on="human"``). Its token counter
  is `TokenCounter.count` — the same count the fit check uses;
* **summarise** older turns: every turn but the last few is replaced by a summary the model
  writes (a traced, costed call of its own), kept as a second system message. The summary
  grows by the newly old turns each time, like LangChain's summary-buffer memory did.

Before a turn is sent its messages are counted — by the embedded server's own tokenizer
(``/apply-template`` then ``/tokenize``: exactly what the server will see), with tiktoken for
OpenAI models, or by the rule of thumb elsewhere, saying which — and a turn that would not leave
room for the answer in the context window is refused, with the count and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from core.call.trace import CallTrace
from core.patterns.conversation import ContextWindow, Conversation, SentMessage, SummaryCall, Turn

if TYPE_CHECKING:  # langchain_core and httpx load at the first turn, not with the page
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

    from core.call.models import Endpoint

CHARS_PER_TOKEN = 4
# Role markers and separators a chat template wraps around each message, and the reply primer.
RULE_TOKENS_PER_MESSAGE = 4
RULE_TOKENS_PER_REPLY = 3
RULE_METHOD = (f"≈ {CHARS_PER_TOKEN} characters per token + {RULE_TOKENS_PER_MESSAGE} per message "
               "(the rule of thumb: this endpoint's tokenizer is not at hand)")
LLAMA_METHOD = "counted by the embedded server's tokenizer (/apply-template, then /tokenize)"
TIKTOKEN_METHOD = "counted with tiktoken (ChatOpenAI.get_num_tokens_from_messages)"


class Strategy(Enum):
    """How much of the history each turn sends."""

    KEEP = "Keep everything"
    TRIM = "Trim to a token budget"
    SUMMARISE = "Summarise older turns"


@dataclass(frozen=True)
class HistoryPolicy:
    """A strategy and its one setting.

    Attributes:
        strategy: which of the three.
        budget_tokens: TRIM: the most tokens the sent messages may count.
        keep_turns: SUMMARISE: the newest exchanges sent word for word; older ones summarised.
    """

    strategy: Strategy = Strategy.KEEP
    budget_tokens: int = 300
    keep_turns: int = 2

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"strategy": self.strategy.value}
        if self.strategy is Strategy.TRIM:
            record["budget_tokens"] = self.budget_tokens
        if self.strategy is Strategy.SUMMARISE:
            record["keep_turns"] = self.keep_turns
        return record


# --- counting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenCounter:
    """Counts a list of messages as the endpoint will, and says how.

    Attributes:
        count: messages → input tokens.
        method: one phrase, shown beside every count it makes.
        exact: the endpoint's own tokenizer (or tiktoken for OpenAI), not the rule of thumb.
    """

    count: Callable[[Sequence[BaseMessage]], int]
    method: str
    exact: bool


def rule_of_thumb(messages: Sequence[BaseMessage]) -> int:
    """About four characters per token, plus a few tokens of chat format per message.

    Example:
        >>> from langchain_core.messages import HumanMessage, SystemMessage
        >>> rule_of_thumb([SystemMessage("Be brief."), HumanMessage("What is 2 + 2?")])
        18
    """
    return sum(math.ceil(len(_text(m)) / CHARS_PER_TOKEN) + RULE_TOKENS_PER_MESSAGE for m in messages) + RULE_TOKENS_PER_REPLY


def _text(message: BaseMessage) -> str:
    content = message.content
    return content if isinstance(content, str) else str(message.text)


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def as_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Messages as the chat-completions API carries them (role, content)."""
    return [{"role": _ROLES.get(m.type, m.type), "content": _text(m)} for m in messages]


def llama_cpp_counter(endpoint: Endpoint, *, timeout_s: float = 5.0) -> TokenCounter:
    """Count with the llama.cpp server's own template and tokenizer: the prompt it will read."""
    import httpx

    direct = endpoint.direct  # counting is not a call: straight to the server, not via the proxy
    root = direct.base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {direct.api_key.get_secret_value()}"}

    def count(messages: Sequence[BaseMessage]) -> int:
        with httpx.Client(base_url=root, headers=headers, timeout=timeout_s) as client:
            templated = client.post("/apply-template", json={"messages": as_openai_messages(messages)})
            templated.raise_for_status()
            tokens = client.post("/tokenize", json={"content": templated.json()["prompt"]})
            tokens.raise_for_status()
            return len(tokens.json()["tokens"])

    return TokenCounter(count, LLAMA_METHOD, True)


def counter_for(endpoint: Endpoint, *, tiktoken_loader: Callable[[str], object] | None = None) -> TokenCounter:
    """The best counter at hand for this endpoint: its server's tokenizer, tiktoken, or the rule.

    Example:
        >>> from pydantic import SecretStr
        >>> from core.call.models import Endpoint
        >>> from core.settings import Provider
        >>> ep = Endpoint(Provider.COMPATIBLE, "http://localhost:11434/v1", "llama3.2",
        ...               SecretStr("k"), "LAB_COMPAT_API_KEY")
        >>> counter_for(ep).exact
        False
    """
    from core.settings import Provider

    provider = endpoint.direct.provider
    if provider is Provider.LOCAL:
        return llama_cpp_counter(endpoint)
    if provider is Provider.OPENAI:
        try:
            from core.batch.estimate import tiktoken_counter

            (tiktoken_loader or tiktoken_counter)(endpoint.model)  # loads the encoding, bounded in time
            from langchain_openai import ChatOpenAI
            from pydantic import SecretStr

            # Counting only: this model never makes a request, so any key will do.
            counting = ChatOpenAI(model=endpoint.model, api_key=SecretStr("not-used-for-counting"))
            return TokenCounter(lambda ms: counting.get_num_tokens_from_messages(list(ms)), TIKTOKEN_METHOD, True)
        except Exception as exc:  # offline without tiktoken's cache, or an unknown model
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            return TokenCounter(rule_of_thumb, f"{RULE_METHOD}; tiktoken could not count: {reason}", False)
    return TokenCounter(rule_of_thumb, RULE_METHOD, False)


def safe_count(counter: TokenCounter, messages: Sequence[BaseMessage]) -> tuple[int, str]:
    """Count with `counter`; if its server cannot be reached, with the rule — and say so."""
    try:
        return counter.count(messages), counter.method
    except Exception as exc:  # the tokenizer endpoint failed: the rule still gives an answer
        return rule_of_thumb(messages), f"{RULE_METHOD} (the tokenizer failed: {type(exc).__name__})"


# --- the plan of one turn ---------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A turn not sent, because it would not fit: the count, the window, and what to do."""

    tokens: int
    method: str
    window: int
    answer_room: int
    message: str


@dataclass(frozen=True)
class TurnPlan:
    """What a turn will send, decided before the answer's call.

    Attributes:
        messages: the messages to send (LangChain objects).
        tokens / method: their count before sending, and how it was counted.
        note: what the strategy did, in a sentence ("trimmed: the 4 oldest messages dropped").
        summary: the summarising call made for this turn, if one was.
    """

    messages: list[BaseMessage]
    tokens: int
    method: str
    note: str
    summary: SummaryCall | None = None

    @property
    def sent(self) -> tuple[SentMessage, ...]:
        return tuple(SentMessage(m["role"], m["content"]) for m in as_openai_messages(self.messages))


def fit_check(tokens: int, method: str, window: ContextWindow, answer_room: int) -> Refusal | None:
    """Refuse a turn whose messages leave no room for the answer (`max_tokens`) in the window.

    Example:
        >>> fit_check(1900, "counted", ContextWindow(2048, "props"), 256).tokens
        1900
        >>> fit_check(100, "counted", ContextWindow(2048, "props"), 256) is None
        True
        >>> fit_check(10**6, "rule", ContextWindow(None, "not reported"), 256) is None
        True
    """
    if window.tokens is None or tokens + answer_room <= window.tokens:
        return None
    message = (
        f"Not sent: this turn would send {tokens:,} tokens ({method}), and with up to "
        f"{answer_room:,} for the answer (max tokens) that is more than the {window.tokens:,}-token "
        f"context window ({window.source}). Shorten the message, switch the history to "
        "\"Trim to a token budget\" or \"Summarise older turns\", start a new conversation, or "
        "lower max tokens in the sidebar."
    )
    return Refusal(tokens, method, window.tokens, answer_room, message)


def plan_turn(
    conversation: Conversation,
    user_text: str,
    policy: HistoryPolicy,
    counter: TokenCounter,
    *,
    before: int | None = None,
    summarise: Callable[[str], SummaryCall] | None = None,
) -> TurnPlan:
    """The messages one turn sends under `policy`, counted.

    Args:
        conversation: the history so far.
        user_text: the new message.
        policy: keep, trim or summarise.
        counter: counts messages (also trim_messages's token counter).
        before: build on the turns before this index only (a retry of that turn).
        summarise: SUMMARISE: writes a summary of older turns (a model call); a previous
            summary that already covers them is reused instead of calling again.
    """
    from langchain_core.messages import HumanMessage, SystemMessage, trim_messages

    history = conversation.history(before=before)
    new = HumanMessage(user_text)
    note = ""
    summary: SummaryCall | None = None
    if policy.strategy is Strategy.TRIM:
        full = [*history, new]
        kept = trim_messages(
            full, max_tokens=policy.budget_tokens, token_counter=counter.count, strategy="last",
            include_system=True, start_on="human", allow_partial=False,
        )
        dropped = len(full) - len(kept)
        # trim_messages returns [] (or only the system prompt) when even the new message is over
        # the budget: send the new message anyway — the fit check decides whether it may go.
        if not kept or kept[-1] is not new:
            kept = [full[0], new]
            dropped = len(full) - 2
        messages = kept
        if dropped:
            note = (f"trimmed to {policy.budget_tokens:,} tokens: the {dropped} oldest message"
                    f"{'s' if dropped != 1 else ''} dropped")
        elif len(full) > 2:
            note = f"all {len(full) - 2} earlier messages fit the {policy.budget_tokens:,}-token budget"
        else:
            note = "the first turn: no earlier messages"
    elif policy.strategy is Strategy.SUMMARISE:
        exchanges = [(h, a) for h, a in zip(history[1::2], history[2::2], strict=False)]
        older = exchanges[: max(len(exchanges) - policy.keep_turns, 0)]
        recent = [m for pair in exchanges[len(older):] for m in pair]
        messages = [history[0]]
        if older:
            previous = _last_summary(conversation, before)
            if previous is not None and previous.covers_turns == len(older):
                summary_text = previous.text
                note = f"turns 1–{len(older)} replaced by the earlier summary (no new call)"
            elif summarise is not None:
                made = summarise(summary_prompt(older, previous))
                summary = SummaryCall(made.text, len(older), made.trace)
                summary_text = made.text
                note = f"turns 1–{len(older)} replaced by a summary (one more model call)"
            else:
                summary_text = ""
            if summary_text:
                messages.append(SystemMessage(f"Summary of the conversation so far: {summary_text}"))
            else:  # no summary to stand in for them: send the older turns rather than lose them
                recent = [m for pair in exchanges for m in pair]
                note = "the summary call failed (its error is in the ledger): every earlier exchange sent"
        if not note:
            note = f"all {len(exchanges)} earlier exchanges sent (summarising starts after {policy.keep_turns})"
        messages += [*recent, new]
    else:
        messages = [*history, new]
        earlier = len(history) - 1
        note = f"all {earlier} earlier messages sent" if earlier else "the first turn: no earlier messages"
    tokens, method = safe_count(counter, messages)
    return TurnPlan(messages, tokens, method, note, summary)


def _last_summary(conversation: Conversation, before: int | None) -> SummaryCall | None:
    for turn in reversed(conversation.turns[:before]):
        if turn.summary is not None and turn.summary.text:
            return turn.summary
    return None


def summary_prompt(older: Sequence[tuple[BaseMessage, BaseMessage]], previous: SummaryCall | None) -> str:
    """The request that asks the model to summarise the older exchanges.

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> print(summary_prompt([(HumanMessage("Hi, I'm Ada."), AIMessage("Hello Ada!"))], None))
        Summarise this conversation in at most three sentences. Keep names, numbers and facts the user gave.
        <BLANKLINE>
        User: Hi, I'm Ada.
        Assistant: Hello Ada!
    """
    lines = ["Summarise this conversation in at most three sentences. Keep names, numbers and facts "
             "the user gave.", ""]
    start = 0
    if previous is not None and previous.text:
        lines.append(f"Summary of the earlier part: {previous.text}")
        start = previous.covers_turns
    for human, ai in older[start:]:
        lines += [f"User: {_text(human)}", f"Assistant: {_text(ai)}"]
    return "\n".join(lines)


def summarise_with(llm: BaseChatModel, config: RunnableConfig | None, secrets: tuple[str, ...] = ()) -> Callable[[str], SummaryCall]:
    """A `plan_turn` summariser: one traced `invoke` through the page's call kit."""
    from core.patterns.streaming import timed_invoke

    def summarise(prompt: str) -> SummaryCall:
        record = timed_invoke(llm, prompt, config, secrets=secrets)
        return SummaryCall(record.text.strip() if record.ok else "", 0, record.trace)

    return summarise


# --- the prompt cache, per endpoint ---------------------------------------------------------------


@dataclass(frozen=True)
class CacheSwitch:
    """Whether the lab can turn this endpoint's prompt cache off for one request, and how.

    Attributes:
        can_turn_off: a per-request switch exists.
        extra_body: what to add to the request (`ChatOpenAI(extra_body=...)`).
        note: one sentence for the page.
    """

    can_turn_off: bool
    extra_body: dict[str, Any]
    note: str


def cache_switch(endpoint: Endpoint) -> CacheSwitch:
    """llama.cpp takes ``cache_prompt: false`` per request; OpenAI's caching cannot be turned off.

    Example:
        >>> from pydantic import SecretStr
        >>> from core.call.models import Endpoint
        >>> from core.settings import Provider
        >>> cache_switch(Endpoint(Provider.OPENAI, "https://api.openai.com/v1", "gpt-4o-mini",
        ...              SecretStr("k"), "OPENAI_API_KEY")).can_turn_off
        False
    """
    from core.settings import Provider

    provider = endpoint.direct.provider
    if endpoint.replay:
        return CacheSwitch(False, {}, "Answers come from a recording: the replay server has no prompt cache to turn off.")
    if provider is Provider.LOCAL:
        return CacheSwitch(True, {"cache_prompt": False},
                           "llama.cpp: `cache_prompt: false` in each request, so every turn reads its whole prompt again.")
    if provider is Provider.OPENAI:
        return CacheSwitch(False, {}, "OpenAI caches prompts of 1,024 tokens and more by itself; no request "
                           "parameter turns that off, so there is no cache-off run to compare with.")
    return CacheSwitch(False, {}, "This endpoint's prompt cache (if it has one) cannot be turned off through the "
                       "OpenAI API; for a llama.cpp server, its `cache_prompt` field would do it.")


# --- running a turn -------------------------------------------------------------------------------


class TurnStream:
    """Stream one planned turn into the conversation; `text_chunks()` feeds `st.write_stream`.

    The turn joins the conversation before the first token (or replaces the turn it retries),
    so a stream cut by a rerun or a dropped connection leaves the turn there with what arrived,
    marked by its trace as incomplete or failed — the history before it untouched.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> conv = Conversation()
        >>> plan = plan_turn(conv, "Hi", HistoryPolicy(), TokenCounter(rule_of_thumb, "rule", False))
        >>> fake = GenericFakeChatModel(messages=iter([AIMessage(content="Hello!")]))
        >>> stream = TurnStream(conv, "Hi", plan, fake)
        >>> "".join(stream.text_chunks()), conv.turns[0].answer, conv.turns[0].status
        ('Hello!', 'Hello!', 'complete')
    """

    def __init__(
        self,
        conversation: Conversation,
        user_text: str,
        plan: TurnPlan,
        llm: BaseChatModel,
        config: RunnableConfig | None = None,
        *,
        secrets: tuple[str, ...] = (),
        cache_off: bool = False,
        replace: int | None = None,
    ) -> None:
        from langchain_core.runnables.config import merge_configs

        from core.export.otel.mapping import conversation_tag
        from core.patterns.streaming import StreamCapture

        # Tagged with the conversation: an OpenTelemetry export files the turn under its id.
        config = merge_configs(config, {"tags": [conversation_tag(conversation.id)]})
        self.capture = StreamCapture(llm, user_text, config, secrets=secrets, messages=plan.messages)
        self.turn = Turn(
            user=user_text, sent=plan.sent, sent_tokens=plan.tokens, sent_tokens_method=plan.method,
            history_note=plan.note, summary=plan.summary, cache_off=cache_off,
        )
        if replace is not None and 0 <= replace < len(conversation.turns):
            conversation.turns[replace] = self.turn
        else:
            conversation.turns.append(self.turn)

    def text_chunks(self) -> Iterator[str]:
        """The answer's text as it arrives (the usage-only last chunk is kept by the capture)."""
        try:
            for text in self.capture.text_chunks():
                self.turn.answer += text
                yield text
        finally:
            record = self.capture.record
            self.turn.trace = record.trace
            self.turn.answer = record.text
            self.turn.problem = record.error


def replay_without_cache(
    conversation: Conversation,
    llm: BaseChatModel,
    config: RunnableConfig | None = None,
    *,
    secrets: tuple[str, ...] = (),
    on_turn: Callable[[int, int], None] | None = None,
) -> list[CallTrace | None]:
    """Send every turn's exact messages again, one after the other, with `llm` (built with the
    cache off: `cache_switch(...).extra_body`). Returns each replayed call's trace, in turn order.

    The prompts are the ones the conversation sent, not regenerated answers, so each replayed
    turn reads the same input tokens as the original: only the cache differs.
    """
    from langchain_core.messages import convert_to_messages

    from core.patterns.streaming import StreamCapture

    traces: list[CallTrace | None] = []
    sendable = [t for t in conversation.turns if t.sent]
    for index, turn in enumerate(sendable, start=1):
        if on_turn is not None:
            on_turn(index, len(sendable))
        messages = convert_to_messages([{"role": m.role, "content": m.content} for m in turn.sent])
        capture = StreamCapture(llm, turn.user, config, secrets=secrets, messages=messages)
        for _ in capture.text_chunks():
            pass
        traces.append(capture.record.trace)
    return traces
