"""A conversation against the real embedded model: its prompt cache, its window, its tokenizer."""

from __future__ import annotations

from core.call.models import build_chat_model, resolve_endpoint
from core.embedded_server import CONTEXT_PER_SLOT, EmbeddedModelServer
from core.money.ledger import SessionLedger
from core.patterns.chat_history import (
    LLAMA_METHOD,
    HistoryPolicy,
    TurnStream,
    cache_switch,
    counter_for,
    plan_turn,
    replay_without_cache,
)
from core.patterns.conversation import CACHE_FROM_USAGE, Conversation, call_figures, read_context_window
from core.settings import ModelSettings

QUESTIONS = ("My name is Ada. Say hello.", "What is 2 + 2?", "Name a colour.", "What is my name?")


def test_from_turn_two_the_prefix_comes_from_the_cache_and_the_cache_off_replay_reads_it_all(
    embedded_server: EmbeddedModelServer, local_settings: ModelSettings
) -> None:
    settings = local_settings.with_changes(max_tokens=20)
    endpoint = resolve_endpoint(settings, embedded_server)
    window = read_context_window(endpoint)
    assert window.tokens == CONTEXT_PER_SLOT and "/props" in window.source  # per slot, read from the server
    counter = counter_for(endpoint)
    assert counter.method == LLAMA_METHOD
    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="chat", provider="Local")]}
    conv = Conversation(window=window)
    for question in QUESTIONS:
        plan = plan_turn(conv, question, HistoryPolicy(), counter)
        stream = TurnStream(conv, question, plan, build_chat_model(settings, endpoint), config)
        assert "".join(stream.text_chunks())
    figures = conv.figures(None)
    assert all(t.complete for t in conv.turns)
    # The count made before sending is the count the server then reported.
    assert [t.sent_tokens for t in conv.turns] == [f.input.total for f in figures]
    # Turn 1 may find a few tokens cached already: the chat template's opening is the same for every
    # call this server has answered (in the whole suite, other tests' calls); its question is new.
    assert figures[0].input.new > 0
    for f in figures[1:]:
        assert f.input.source == CACHE_FROM_USAGE and f.input.cached > 0 and f.input.new < f.input.total
        assert f.input.server_check is not None and "agree" in f.input.server_check
    assert [f.input.total for f in figures] == sorted(f.input.total for f in figures)  # the history grows
    assert all(f.prefill_ms is not None and f.trace.ttft_s is not None for f in figures)

    switch = cache_switch(endpoint)
    replayed = replay_without_cache(conv, build_chat_model(settings, endpoint, extra_body=switch.extra_body), config)
    again = [call_figures(n, t, None, window) for n, t in enumerate(replayed, start=1)]
    assert [f.input.total for f in again] == [f.input.total for f in figures]  # the same prompts
    assert [f.input.cached for f in again] == [0] * len(QUESTIONS)
    assert len(ledger.records()) == 2 * len(QUESTIONS)
