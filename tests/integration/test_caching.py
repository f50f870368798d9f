"""A per-model InMemoryCache: the second identical call is a marked, unbilled cache hit."""

from __future__ import annotations

from core.call.models import Endpoint, build_chat_model
from core.export.snippets import cache_code
from core.money.costs import cost_calls, session_totals
from core.money.ledger import SessionLedger, is_cache_hit
from core.money.pricing import ModelPrice, PriceTable
from core.money.receipt import receipt_lines
from core.patterns.caching import MarkedInMemoryCache, temperature_note
from core.patterns.rate_limits import RequestRecorder
from core.patterns.streaming import timed_invoke
from core.settings import ModelSettings
from tests.integration.test_snippets import run_snippet


def test_the_second_identical_call_comes_from_the_cache_and_is_not_spend(
    local_endpoint: Endpoint, local_settings: ModelSettings
) -> None:
    requests = RequestRecorder()
    llm = build_chat_model(local_settings.with_changes(max_tokens=8), local_endpoint,
                           cache=MarkedInMemoryCache(), http_client=requests.http_client())
    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="metadata", provider="Local")]}
    first = timed_invoke(llm, "Say hi.", config)
    second = timed_invoke(llm, "Say hi.", config)
    assert not is_cache_hit(first.response_metadata) and is_cache_hit(second.response_metadata)
    assert second.text == first.text and second.usage == first.usage
    assert len(requests.attempts) == 1  # the second call sent no request at all
    records = ledger.records()
    assert [r.cache_hit for r in records] == [False, True]
    # Priced as if it were a paid model: the hit costs $0 and its tokens are not counted as spend.
    table = PriceTable((ModelPrice(local_endpoint.model, "x", 1.0, None, 2.0),), "today", "test")
    costed = cost_calls(records, table)
    assert costed[1].cost_usd == 0.0 and costed[1].cost_label == "$0 (cache hit)"
    totals = session_totals(costed)
    assert totals.calls == 2 and totals.cache_hits == 1
    assert totals.total_tokens == first.usage.total_tokens  # the first call's tokens only
    assert totals.cost_usd == costed[0].cost_usd and totals.cost_usd > 0
    assert "1 from the cache (not billed)" in totals.summary()
    assert receipt_lines(second.response_metadata, second.usage)[0].field == "cache hit"


def test_a_cache_on_a_sampled_answer_gets_a_note_not_an_error() -> None:
    assert temperature_note(0) is None
    note = temperature_note(1.2)
    assert note and "first one every time" in note and "temperature to 0" in note


def test_cache_snippet_answers_the_second_call_from_the_cache(
    local_endpoint: Endpoint, local_settings: ModelSettings, embedded_server
) -> None:
    code = cache_code(local_settings.with_changes(max_tokens=6), local_endpoint, "Say hi.")
    result = run_snippet(code, local_endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = [line for line in result.stdout.splitlines() if " call: " in line]
    assert "'output_tokens': 6" in first and "'output_tokens': 6" in second  # the first call's usage
    assert first.split("}")[-1] == second.split("}")[-1]  # and the same text, from memory
