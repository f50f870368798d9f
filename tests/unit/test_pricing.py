"""Cost maths, worked by hand, and the shipped price table.

Detail keys for the priority/flex tiers are built by langchain-openai's own `_create_usage_metadata`
(the function `ChatOpenAI` uses on every response), so if a release renames them these tests fail
rather than silently pricing a tier call at standard rates.
"""

from __future__ import annotations

import csv
import math

import pytest
from langchain_openai.chat_models.base import _create_usage_metadata

from core.call.usage import Usage
from core.money.pricing import (
    DEFAULT_PRICES_PATH,
    ModelPrice,
    PriceTable,
    call_cost,
    estimate_cost,
    format_usd,
    load_price_table,
    per_1k_to_per_1m,
    prices_from_records,
)

SHARED_CSV_ROWS = 51  # rows in ../shared/prices-2026-11.csv, all carried into data/prices.csv

GPT_4O_MINI = ModelPrice(
    "gpt-4o-mini", "openai", 0.15, 0.075, 0.6,
    priority_input_per_1m=0.25, priority_cached_input_per_1m=0.125, priority_output_per_1m=1.0,
)
GPT_5 = ModelPrice(
    "gpt-5", "openai", 1.25, 0.125, 10,
    priority_input_per_1m=2.5, priority_cached_input_per_1m=0.25, priority_output_per_1m=20,
    flex_input_per_1m=0.625, flex_cached_input_per_1m=0.0625, flex_output_per_1m=5,
)


def openai_usage(prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0,
                 tier: str | None = None) -> Usage:
    """Usage exactly as langchain-openai builds it from an OpenAI `usage` block."""
    token_usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    usage = Usage.from_metadata(_create_usage_metadata(token_usage, tier))
    assert usage is not None
    return usage


def concept_note_calculate_cost(metadata, input_price=0.001, output_price=0.002):
    """The concept note's `calculate_cost`, verbatim (prices per 1K tokens)."""
    usage = metadata.get('token_usage', {})
    input_cost = usage.get('prompt_tokens', 0) / 1000 * input_price
    output_cost = usage.get('completion_tokens', 0) / 1000 * output_price
    return input_cost + output_cost


def test_concept_note_example_gives_the_same_number() -> None:
    # The note's receipt: 12 prompt tokens, 85 completion tokens, $0.001 / $0.002 per 1K.
    metadata = {"token_usage": {"prompt_tokens": 12, "completion_tokens": 85, "total_tokens": 97}}
    expected = concept_note_calculate_cost(metadata)
    assert expected == pytest.approx(0.000182)
    price = ModelPrice("gpt-3.5-turbo", "openai", per_1k_to_per_1m(0.001), None, per_1k_to_per_1m(0.002))
    cost = call_cost(Usage(12, 85, 97), price)
    assert cost.total_usd == pytest.approx(expected, rel=1e-12)
    assert format_usd(cost.total_usd) == "$0.000182"


def test_standard_tier_with_cache_and_reasoning_worked_example() -> None:
    # 2,000 input of which 1,000 cached; 1,000 output of which 400 reasoning, on gpt-4o-mini:
    #   uncached 1,000 × $0.15/1M  = $0.000150
    #   cached   1,000 × $0.075/1M = $0.000075   (instead of the input price, not on top)
    #   output   1,000 × $0.60/1M  = $0.000600   (reasoning included)
    usage = openai_usage(2_000, 1_000, cached=1_000, reasoning=400)
    cost = call_cost(usage, GPT_4O_MINI)
    assert cost.input_usd == pytest.approx(0.000150)
    assert cost.cached_input_usd == pytest.approx(0.000075)
    assert cost.output_usd == pytest.approx(0.000600)
    assert cost.reasoning_usd == pytest.approx(400 * 0.6 / 1e6)
    assert cost.total_usd == pytest.approx(0.000825)
    assert (cost.tier, cost.requested_tier) == ("standard", None)


def test_cached_tokens_are_never_counted_twice() -> None:
    without_cache = call_cost(openai_usage(2_000, 0), GPT_4O_MINI).total_usd
    with_cache = call_cost(openai_usage(2_000, 0, cached=1_000), GPT_4O_MINI).total_usd
    assert without_cache == pytest.approx(0.0003)
    assert with_cache == pytest.approx(0.0003 - 1_000 * (0.15 - 0.075) / 1e6)
    # A model without a cached price charges cached tokens at the full input price.
    no_discount = ModelPrice("gpt-4", "openai", 30, None, 60)
    assert call_cost(openai_usage(1_000, 10, cached=500), no_discount).total_usd == pytest.approx(
        call_cost(openai_usage(1_000, 10), no_discount).total_usd
    )


def test_reasoning_is_part_of_output_not_added_again() -> None:
    cost = call_cost(openai_usage(0, 1_000, reasoning=900), GPT_5)
    assert cost.output_usd == pytest.approx(0.01)
    assert cost.reasoning_usd == pytest.approx(0.009)
    assert cost.total_usd == pytest.approx(0.01)


def test_priority_tier_prefixed_keys_use_priority_prices() -> None:
    usage = openai_usage(2_000, 1_000, cached=1_000, reasoning=400, tier="priority")
    # langchain-openai moved the details under tier-prefixed keys:
    assert usage.input_details["priority_cache_read"] == 1_000
    assert usage.input_details["priority"] == 1_000
    assert usage.output_details["priority_reasoning"] == 400
    assert usage.cached_input_tokens == 1_000 and usage.reasoning_tokens == 400
    cost = call_cost(usage, GPT_4O_MINI)
    #   1,000 × $0.25 + 1,000 × $0.125 + 1,000 × $1.00, per 1M
    assert cost.input_usd == pytest.approx(0.000250)
    assert cost.cached_input_usd == pytest.approx(0.000125)
    assert cost.output_usd == pytest.approx(0.001)
    assert cost.reasoning_usd == pytest.approx(0.0004)
    assert cost.total_usd == pytest.approx(0.001375)
    assert cost.tier == "priority"


def test_flex_tier_worked_example_and_explicit_tier() -> None:
    usage = openai_usage(10_000, 2_000, cached=8_000, reasoning=1_500, tier="flex")
    cost = call_cost(usage, GPT_5)
    #   2,000 × $0.625 + 8,000 × $0.0625 + 2,000 × $5, per 1M = 0.00125 + 0.0005 + 0.01
    assert cost.total_usd == pytest.approx(0.01175)
    assert cost.tier == "flex"
    # The tier from response_metadata gives the same answer as the one read from the keys.
    assert call_cost(usage, GPT_5, service_tier="flex") == cost
    # "default" (what OpenAI reports for standard) means standard prices.
    plain = openai_usage(10_000, 2_000, cached=8_000)
    assert call_cost(plain, GPT_5, service_tier="default").tier == "standard"


def test_tier_without_its_prices_falls_back_to_standard_and_says_so() -> None:
    usage = openai_usage(1_000, 1_000, tier="flex")  # gpt-4o-mini has no flex prices
    cost = call_cost(usage, GPT_4O_MINI)
    assert cost.total_usd == pytest.approx((1_000 * 0.15 + 1_000 * 0.6) / 1e6)
    assert (cost.tier, cost.requested_tier) == ("standard", "flex")


def test_estimate_cost_and_free_local_model() -> None:
    assert estimate_cost(1_000_000, 1_000_000, GPT_4O_MINI) == pytest.approx(0.75)
    table = load_price_table()
    local = table.price_for("SmolLM2-135M-Instruct")
    assert local is not None and local.provider == "local" and local.is_free
    assert call_cost(Usage(500, 500, 1_000), local).total_usd == 0.0


def test_shipped_table_carries_every_shared_row_with_date_and_source() -> None:
    table = load_price_table()
    assert table.as_of == "2026-11-24"
    assert "LiteLLM" in table.source
    with DEFAULT_PRICES_PATH.open() as handle:
        file_rows = list(csv.DictReader(handle))
    assert len(table.rows) == len(file_rows) == SHARED_CSV_ROWS + 1
    gpt5 = table.price_for("gpt-5")
    assert gpt5 == GPT_5
    deepseek = table.price_for("deepseek-chat")
    assert deepseek is not None and deepseek.priority_input_per_1m is None


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("GPT-4o-Mini", "gpt-4o-mini"),
        ("openai/gpt-4.1-nano", "gpt-4.1-nano"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("o1-2024-12-17", "o1"),
        ("smollm2-135m-instruct", "SmolLM2-135M-Instruct"),
    ],
)
def test_price_lookup_normalises_snapshots_prefixes_and_case(asked: str, found: str) -> None:
    price = load_price_table().price_for(asked)
    assert price is not None and price.model == found


@pytest.mark.parametrize("asked", ["llama3.2", "gpt-4o-mini-tts", "gpt-4o-min", "", None])
def test_unknown_models_have_no_price_not_zero(asked: str | None) -> None:
    table = load_price_table()
    assert table.price_for(asked) is None
    assert format_usd(None) == "no price"


def test_edited_records_round_trip_and_bad_cells_are_reported() -> None:
    table = load_price_table()
    records = table.as_records()
    assert prices_from_records(records) == (table.rows, [])
    # What st.data_editor hands back: NaN for blanks, numbers as floats, an empty new row.
    edited = [
        {**records[0], "input_per_1m_usd": 7.0, "cached_input_per_1m_usd": math.nan},
        {**records[1], "output_per_1m_usd": -2.0},
        {**records[2], "input_per_1m_usd": math.nan},
        {"model": None, "provider": None},
        {"model": "my-model", "provider": "compatible", "input_per_1m_usd": "$1", "output_per_1m_usd": "2"},
    ]
    rows, problems = prices_from_records(edited)
    assert [r.model for r in rows] == [records[0]["model"], "my-model"]
    assert rows[0].input_per_1m == 7.0 and rows[0].cached_input_per_1m is None
    assert len(problems) == 2 and records[1]["model"] in problems[0]
    edited_table = table.with_rows(rows)
    assert edited_table.as_of == table.as_of
    assert edited_table.price_for(records[1]["model"]) is None  # removed → no price


def test_csv_export_reloads_to_the_same_table(tmp_path) -> None:
    table = load_price_table()
    path = tmp_path / "prices.csv"
    path.write_text(table.to_csv())
    reloaded = load_price_table(path)
    assert reloaded.rows == table.rows
    assert reloaded.as_of == "unknown date"  # no metadata file beside it


def test_empty_table_prices_nothing() -> None:
    assert PriceTable((), "2026-11-24", "nothing").price_for("gpt-4o") is None
