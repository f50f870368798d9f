"""A conversation's per-turn accounting, history strategies and refusals, on recorded traces.

The numbers in `RECORDED` are what the embedded llama.cpp server reported for a real four-turn
conversation (2026-12-08, SmolLM2-135M, 4 slots, cache on, then the same prompts with
`cache_prompt: false`): usage, `prompt_tokens_details.cached_tokens` and `timings`. Traces built
from them go through the same functions the page uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.call.trace import CallTrace, Outcome, ServerReport, StreamChunk
from core.call.usage import Usage
from core.money.ledger import SessionLedger
from core.money.pricing import ModelPrice
from core.patterns.chat_history import (
    RULE_METHOD,
    HistoryPolicy,
    Strategy,
    TokenCounter,
    TurnStream,
    cache_switch,
    counter_for,
    fit_check,
    plan_turn,
    rule_of_thumb,
    summarise_with,
)
from core.patterns.conversation import (
    CACHE_FROM_TIMINGS,
    CACHE_FROM_USAGE,
    INPUT_ONLY,
    NOT_REPORTED,
    ContextWindow,
    Conversation,
    Turn,
    call_figures,
    conversation_record,
    input_tokens_of,
)
from core.settings import ModelSettings, Provider
from tests.fake_openai import NO_FINISH, FakeOpenAI

# (input tokens, cached tokens, prefill ms, output tokens): cache on, then cache off.
RECORDED_CACHE_ON = [(33, 0, 1144.569, 40), (94, 72, 182.615, 40), (155, 133, 202.755, 40), (216, 194, 94.97, 40)]
RECORDED_CACHE_OFF = [(33, 0, 122.32, 40), (94, 0, 370.729, 40), (155, 0, 1222.658, 25), (200, 0, 599.553, 25)]
GPT_4O_MINI = ModelPrice("gpt-4o-mini", "openai", 0.15, 0.075, 0.6)
WINDOW = ContextWindow(2048, "the server's /props: default_generation_settings.n_ctx = 2,048 per slot")


def recorded_trace(input_tokens: int, cached: int, prefill_ms: float, output: int, *,
                   usage_details: bool = True, timings: bool = True, ttft_s: float = 0.3) -> CallTrace:
    details = {"cache_read": cached} if usage_details else {}
    return CallTrace(
        "r", origin=0.0, finished=ttft_s + 0.5, streamed=True,
        chunks=[StreamChunk(ttft_s, "Hi"), StreamChunk(ttft_s + 0.4, " there"), StreamChunk(ttft_s + 0.45, "", usage=True)],
        outcome=Outcome("complete", text="Hi there", usage=Usage(input_tokens, output, input_tokens + output, details),
                        finish_reason="stop"),
        server=ServerReport("llama.cpp timings", prompt_tokens=input_tokens - cached, prompt_ms=prefill_ms,
                            cached_tokens=cached, predicted_tokens=output, predicted_ms=450.0) if timings else None,
    )


def conversation_of(recorded: list[tuple[int, int, float, int]]) -> Conversation:
    conv = Conversation(window=WINDOW)
    for n, row in enumerate(recorded, start=1):
        conv.turns.append(Turn(user=f"question {n}", answer="Hi there", trace=recorded_trace(*row)))
    return conv


# --- accounting ----------------------------------------------------------------------------------


def test_each_turn_splits_input_into_cached_and_new_and_names_the_source() -> None:
    figures = conversation_of(RECORDED_CACHE_ON).figures(GPT_4O_MINI)
    assert [(f.input.total, f.input.cached, f.input.new) for f in figures] == [
        (33, 0, 33), (94, 72, 22), (155, 133, 22), (216, 194, 22)]
    assert {f.input.source for f in figures} == {CACHE_FROM_USAGE}
    # The server's own count agrees with the usage on every turn, and says so.
    assert all(f.input.server_check and "agree" in f.input.server_check for f in figures)
    assert [f.prefill_ms for f in figures] == [1144.569, 182.615, 202.755, 94.97]
    assert figures[1].trace.ttft_s == pytest.approx(0.3)


def test_the_cache_off_replay_reports_no_cached_tokens() -> None:
    figures = conversation_of(RECORDED_CACHE_OFF).figures(GPT_4O_MINI)
    assert [f.input.cached for f in figures] == [0, 0, 0, 0]
    assert [f.input.new for f in figures] == [33, 94, 155, 200]


def test_without_usage_details_the_split_comes_from_llama_cpp_timings() -> None:
    split = input_tokens_of(recorded_trace(94, 72, 182.6, 40, usage_details=False))
    assert (split.total, split.cached, split.new, split.source) == (94, 72, 22, CACHE_FROM_TIMINGS)


def test_usage_without_a_cached_share_says_so_and_nothing_says_not_reported() -> None:
    only_usage = input_tokens_of(recorded_trace(94, 0, 1.0, 40, usage_details=False, timings=False))
    assert (only_usage.total, only_usage.cached, only_usage.new, only_usage.source) == (94, None, None, INPUT_ONLY)
    nothing = CallTrace("r", outcome=Outcome("complete", text="x"))
    figures = call_figures(1, nothing, GPT_4O_MINI, WINDOW)
    assert figures.input.source == NOT_REPORTED and figures.cost_usd is None
    assert figures.output_tokens is None and figures.fullness is None
    assert "in not reported" in figures.line() and "cost not reported" in figures.line()


def test_cached_tokens_are_priced_at_the_cached_rate_and_costs_accumulate() -> None:
    figures = conversation_of(RECORDED_CACHE_ON).figures(GPT_4O_MINI)
    # Turn 2: 22 new at $0.15/1M, 72 cached at $0.075/1M, 40 out at $0.60/1M.
    assert figures[1].cost_usd == pytest.approx((22 * 0.15 + 72 * 0.075 + 40 * 0.6) / 1e6)
    running = 0.0
    for f in figures:
        running += f.cost_usd
        assert f.cumulative_usd == pytest.approx(running)
    off = conversation_of(RECORDED_CACHE_OFF).figures(GPT_4O_MINI)
    assert off[1].cost_usd > figures[1].cost_usd  # the same 94 tokens, none at the cached rate


def test_cached_tokens_from_timings_are_priced_at_the_cached_rate_too() -> None:
    from_usage = call_figures(2, recorded_trace(94, 72, 182.6, 40), GPT_4O_MINI, WINDOW)
    from_timings = call_figures(2, recorded_trace(94, 72, 182.6, 40, usage_details=False), GPT_4O_MINI, WINDOW)
    assert from_timings.cost_usd == pytest.approx(from_usage.cost_usd)


def test_a_summary_call_is_part_of_its_turns_cost_and_an_unknown_cost_stops_the_running_total() -> None:
    conv = conversation_of(RECORDED_CACHE_ON[:2])
    from core.patterns.conversation import SummaryCall

    conv.turns[1].summary = SummaryCall("They said hi.", 1, recorded_trace(50, 0, 10.0, 10))
    with_summary = conv.figures(GPT_4O_MINI)[1].cost_usd
    assert with_summary == pytest.approx((22 * 0.15 + 72 * 0.075 + 40 * 0.6 + 50 * 0.15 + 10 * 0.6) / 1e6)
    conv.turns.append(Turn(user="q", trace=CallTrace("r", outcome=Outcome("complete", text="x"))))
    conv.turns.append(Turn(user="q", answer="Hi there", trace=recorded_trace(*RECORDED_CACHE_ON[2])))
    last = conv.figures(GPT_4O_MINI)
    assert last[2].cost_label == "cost not reported" and last[2].cumulative_usd is None
    assert last[3].cost_usd is not None and last[3].cumulative_usd is None  # unknown, not a smaller total


def test_context_fullness_is_tokens_over_the_servers_per_slot_window() -> None:
    figures = conversation_of(RECORDED_CACHE_ON).figures(None)
    assert figures[3].context_tokens == 216 + 40
    assert figures[3].fullness == pytest.approx(256 / 2048)
    assert figures[3].cost_label == "no price"  # usage known, the table has no row for it
    assert "context 12%" in figures[3].line()


# --- history strategies --------------------------------------------------------------------------

RULE = TokenCounter(rule_of_thumb, RULE_METHOD, False)


def five_turns() -> Conversation:
    conv = Conversation(system_prompt="Be brief.", window=WINDOW)
    for n in range(1, 6):
        conv.turns.append(Turn(user=f"My number {n} is {n * 11}.", answer=f"Noted: {n * 11}.",
                               trace=recorded_trace(30 * n, 0, 10.0, 5)))
    return conv


def test_keep_everything_sends_every_complete_exchange() -> None:
    conv = five_turns()
    conv.turns[2].trace = CallTrace("cut", outcome=Outcome("incomplete", text="Noted"))  # not resent
    plan = plan_turn(conv, "What was my first number?", HistoryPolicy(), RULE)
    assert [m.type for m in plan.messages] == ["system"] + ["human", "ai"] * 4 + ["human"]
    assert "My number 3" not in " ".join(str(m.content) for m in plan.messages)
    assert plan.tokens == rule_of_thumb(plan.messages) and plan.method == RULE_METHOD


def test_trim_keeps_the_system_prompt_and_drops_the_oldest_turns_to_the_budget() -> None:
    conv = five_turns()
    plan = plan_turn(conv, "What was my first number?", HistoryPolicy(Strategy.TRIM, budget_tokens=60), RULE)
    assert plan.messages[0] == SystemMessage("Be brief.")
    assert plan.messages[1].type == "human"  # the kept history starts on a user message
    assert plan.messages[-1] == HumanMessage("What was my first number?")
    assert plan.tokens <= 60
    assert "My number 1 is" not in " ".join(str(m.content) for m in plan.messages)
    assert "oldest messages dropped" in plan.note


def test_trim_never_drops_the_new_message_even_over_the_budget() -> None:
    long = "word " * 200
    plan = plan_turn(five_turns(), long, HistoryPolicy(Strategy.TRIM, budget_tokens=20), RULE)
    assert [m.type for m in plan.messages] == ["system", "human"] and plan.messages[-1].content == long


def test_summarise_replaces_older_turns_with_one_costed_call_and_reuses_it() -> None:
    conv = five_turns()
    prompts: list[str] = []
    fake = GenericFakeChatModel(messages=iter([AIMessage(content="The user gave numbers 11, 22, 33.")]))
    ledger = SessionLedger()

    def summarise(prompt: str):
        prompts.append(prompt)
        return summarise_with(fake, {"callbacks": [ledger.callback(pattern="chat", provider="t")]})(prompt)

    plan = plan_turn(conv, "Sum them.", HistoryPolicy(Strategy.SUMMARISE, keep_turns=2), RULE, summarise=summarise)
    assert plan.summary is not None and plan.summary.covers_turns == 3 and plan.summary.trace is not None
    assert "My number 1 is 11" in prompts[0] and "My number 4" not in prompts[0]
    assert plan.messages[1] == SystemMessage("Summary of the conversation so far: The user gave numbers 11, 22, 33.")
    assert [m.type for m in plan.messages[2:]] == ["human", "ai", "human", "ai", "human"]
    assert len(ledger.records()) == 1  # the summary is a call in the ledger like any other
    # The next turn covering the same three turns reuses the summary: no second call.
    conv.turns.append(Turn(user="Sum them.", answer="66", trace=recorded_trace(50, 0, 1.0, 2), summary=plan.summary))
    conv.turns[-1].summary = plan.summary
    again = plan_turn(conv, "And the last?", HistoryPolicy(Strategy.SUMMARISE, keep_turns=3), RULE, summarise=summarise)
    assert len(prompts) == 1 and "earlier summary" in again.note


# --- refusing what cannot fit ---------------------------------------------------------------------


def test_a_turn_that_leaves_no_room_for_the_answer_is_refused_with_the_count_and_what_to_do() -> None:
    refusal = fit_check(1900, RULE_METHOD, WINDOW, 256)
    assert refusal is not None
    assert "1,900 tokens" in refusal.message and "2,048-token" in refusal.message
    assert "rule of thumb" in refusal.message and "Trim" in refusal.message
    assert fit_check(1792, RULE_METHOD, WINDOW, 256) is None


def test_counters_say_which_tokenizer_counted() -> None:
    compat = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:9/v1", "m", SecretStr("k"), "K")
    assert counter_for(compat).method == RULE_METHOD
    openai = Endpoint(Provider.OPENAI, "https://api.openai.com/v1", "gpt-4o-mini", SecretStr("k"), "K")

    def offline(model: str) -> object:
        raise RuntimeError("it downloads its encoding on first use, and the download failed (offline?)")

    counted = counter_for(openai, tiktoken_loader=offline)
    assert not counted.exact and "tiktoken could not count" in counted.method


def test_only_llama_cpp_can_turn_its_cache_off_per_request() -> None:
    local = Endpoint(Provider.LOCAL, "http://127.0.0.1:9/v1", "m", SecretStr("k"), "K")
    assert cache_switch(local).extra_body == {"cache_prompt": False}
    openai = Endpoint(Provider.OPENAI, "https://api.openai.com/v1", "gpt-4o-mini", SecretStr("k"), "K")
    assert not cache_switch(openai).can_turn_off and "no request parameter" in cache_switch(openai).note


# --- a cut stream, and the export ---------------------------------------------------------------

KEY = "sk-chat-test-key-123456"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(KEY, reply="one two three four five six").start()
    yield server
    server.stop()


def test_a_cut_stream_keeps_its_partial_answer_and_the_turn_can_be_retried(fake: FakeOpenAI) -> None:
    settings = ModelSettings(provider=Provider.COMPATIBLE, base_url=fake.base_url, model=NO_FINISH, max_retries=0)
    endpoint = Endpoint(Provider.COMPATIBLE, fake.base_url, NO_FINISH, SecretStr(KEY), "LAB_COMPAT_API_KEY")
    conv = five_turns()
    before = conv.history()
    plan = plan_turn(conv, "Go on.", HistoryPolicy(), RULE)
    stream = TurnStream(conv, "Go on.", plan, build_chat_model(settings, endpoint), secrets=(KEY,))
    shown = "".join(stream.text_chunks())
    cut = conv.turns[-1]
    assert shown and cut.answer == shown and cut.status == "incomplete"
    assert cut.problem is not None and cut.problem.kind == "incomplete"
    assert conv.history() == before  # the cut answer is not resent; earlier turns untouched
    # Retrying replaces that turn in place, built on the same history.
    good = Endpoint(Provider.COMPATIBLE, fake.base_url, "fake-model", SecretStr(KEY), "LAB_COMPAT_API_KEY")
    retry_plan = plan_turn(conv, "Go on.", HistoryPolicy(), RULE, before=5)
    retry = TurnStream(conv, "Go on.", retry_plan, build_chat_model(settings.with_changes(model="fake-model"), good),
                       replace=5)
    "".join(retry.text_chunks())
    assert len(conv.turns) == 6 and conv.turns[5].status == "complete"
    assert conv.turns[5].answer.startswith("one two")


def test_the_export_holds_messages_figures_and_sources_but_no_key() -> None:
    conv = conversation_of(RECORDED_CACHE_ON)
    conv.turns[0].user = f"my key is {KEY}"
    endpoint = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:9/v1", "m", SecretStr(KEY), "LAB_COMPAT_API_KEY")
    record = conversation_record(conv, strategy=HistoryPolicy().as_record(), endpoint=endpoint, price=GPT_4O_MINI,
                                 prices_as_of="2026-11", secrets=(KEY,))
    text = json.dumps(record)
    assert KEY not in text
    assert record["endpoint"] == {"provider": "OpenAI-compatible endpoint", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                                  "network": None, "replay": None}
    assert record["strategy"] == {"strategy": "Keep everything"}
    turn2 = record["turns"][1]["figures"]
    assert (turn2["cached_input_tokens"], turn2["new_input_tokens"], turn2["input_tokens_source"]) == (72, 22, CACHE_FROM_USAGE)
    assert turn2["prefill_source"].startswith("llama.cpp timings.prompt_ms")


def test_the_session_report_holds_the_conversation_its_table_and_chart() -> None:
    from components.report_view import CHAT_CONVERSATION, CHAT_PRICE_AS, PRICES, page_sections
    from core.export.report import ReportInputs, build_report
    from core.money.pricing import load_price_table
    from tests.ledger_records import ledger_record

    conv = conversation_of(RECORDED_CACHE_ON)
    conv.turns[0].user = f"my key is {KEY}"
    (section,) = page_sections({CHAT_CONVERSATION: conv, PRICES: load_price_table(), CHAT_PRICE_AS: "gpt-4o-mini"})
    assert (section.pattern, section.title) == ("chat", "Conversation")
    (table,) = section.tables
    assert len(table.rows) == 4 and "cached_input_tokens" in table.headers
    assert dict(section.facts)["priced as"].startswith("gpt-4o-mini")
    record = ledger_record("r", "chat", "Local", "m", 0.0, 0.1, None, "stop")
    page = build_report(ReportInputs(records=[record], price_table=load_price_table(), sections=(section,),
                                     secrets=(KEY,)))
    assert "Conversation" in page and "Input tokens (cached vs new)" in page and KEY not in page
