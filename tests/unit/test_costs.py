"""The priced ledger, receipts and the usage cross-check — against the real embedded model.

Fakes appear once, for pure logic: a chat model whose response names no model, to show the gap
in LangChain's own usage callback that the ledger closes.
"""

from __future__ import annotations

import pytest
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.call.usage import Usage
from core.money.costs import (
    cost_by_model,
    cost_calls,
    cross_check,
    cumulative_cost,
    ledger_rows,
    session_totals,
    tokens_by_pattern,
)
from core.money.ledger import CallRecord, SessionLedger
from core.money.pricing import ModelPrice, load_price_table
from tests.ledger_records import ledger_record


def test_calls_without_a_model_name_are_kept_though_langchain_drops_them() -> None:
    # A response with usage but no model_name (some OpenAI-compatible servers): LangChain's
    # UsageMetadataCallbackHandler keys usage by model name and silently skips this call.
    fake = GenericFakeChatModel(
        messages=iter([AIMessage(content="hi", usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5})])
    )
    ledger = SessionLedger()
    langchain_usage = UsageMetadataCallbackHandler()
    fake.invoke("x", config={"callbacks": [ledger.callback(pattern="events", provider="Test"), langchain_usage]})
    assert langchain_usage.usage_metadata == {}
    (call,) = ledger.records()
    assert call.usage == Usage(3, 2, 5) and not call.model_reported
    check = cross_check(ledger.records(), langchain_usage.usage_metadata)
    assert (check.agrees, check.tokens_dropped_by_langchain, check.calls_without_model_name) == (False, 5, 1)
    assert "drops those" in check.explanation()


def _record(run: str, pattern: str, model: str, start: float, usage: Usage | None, **kw) -> CallRecord:
    return ledger_record(run, pattern, "Test", model, start, 0.5, usage, "stop", **kw)


def test_totals_charts_and_repricing_from_an_edited_table() -> None:
    records = [
        _record("a", "batch", "gpt-4o-mini", 10.0, Usage(1_000, 500, 1_500)),
        _record("b", "async", "gpt-4o-mini-2024-07-18", 20.0, Usage(2_000, 1_000, 3_000, {"cache_read": 1_000})),
        _record("c", "async", "my-model", 30.0, Usage(100, 100, 200)),
        _record("d", "streaming", "gpt-4o-mini", 40.0, None, streamed=True),
        _record("e", "batch", "gpt-4o-mini", 50.0, None, error="APIConnectionError: refused"),
    ]
    shipped = load_price_table()
    costed = cost_calls(records, shipped)
    totals = session_totals(costed)
    # gpt-4o-mini: 1,000 × 0.15 + 500 × 0.6 = 450e-6; 1,000 × 0.15 + 1,000 × 0.075 + 1,000 × 0.6 = 825e-6
    assert totals.cost_usd == pytest.approx(0.001275)
    assert (totals.calls, totals.usage_reported, totals.usage_missing, totals.errors) == (5, 3, 1, 1)
    assert (totals.priced_calls, totals.unpriced_calls, totals.unpriced_models) == (2, 1, ("my-model",))
    assert totals.total_tokens == 4_700 and totals.cached_input_tokens == 1_000
    assert [round(usd, 6) for _, usd in cumulative_cost(costed)] == [0.00045, 0.001275]
    assert tokens_by_pattern(costed) == {
        "batch": {"input": 1_000, "output": 500, "calls": 1},
        "async": {"input": 2_100, "output": 1_100, "calls": 2},
    }
    by_model = cost_by_model(costed)
    assert by_model["my-model"] is None  # no price, not $0
    labels = [row["cost"] for row in ledger_rows(costed)]
    assert labels[2:] == ["no price", "not reported", "failed"]

    # Give my-model a price in the (session's) table: the same ledger is re-priced.
    edited = shipped.with_rows([*shipped.rows, ModelPrice("my-model", "compatible", 10.0, None, 20.0)])
    repriced = session_totals(cost_calls(records, edited))
    assert repriced.cost_usd == pytest.approx(0.001275 + (100 * 10 + 100 * 20) / 1e6)
    assert repriced.unpriced_calls == 0
