"""Cost maths, worked by hand, and the shipped price table.

Detail keys for the priority/flex tiers are built by langchain-openai's own `_create_usage_metadata`
(the function `ChatOpenAI` uses on every response), so if a release renames them these tests fail
rather than silently pricing a tier call at standard rates.
"""

from __future__ import annotations

import pytest

from core.call.usage import Usage
from core.money.pricing import (
    ModelPrice,
    call_cost,
    per_1k_to_per_1m,
)


def concept_note_calculate_cost(metadata, input_price=0.001, output_price=0.002):
    """The concept note's `calculate_cost`, verbatim (prices per 1K tokens)."""
    usage = metadata.get('token_usage', {})
    input_cost = usage.get('prompt_tokens', 0) / 1000 * input_price
    output_cost = usage.get('completion_tokens', 0) / 1000 * output_price
    return input_cost + output_cost


def test_concept_note_formula_matches_on_a_real_response(local_llm) -> None:
    # invoke() responses carry OpenAI's raw `token_usage` in response_metadata, which is what
    # the note's function reads; our maths reads LangChain's usage_metadata. Same number.
    response = local_llm.invoke("What is LangChain?")
    assert response.response_metadata["token_usage"]["prompt_tokens"] > 0
    expected = concept_note_calculate_cost(response.response_metadata)
    price = ModelPrice("any", "openai", per_1k_to_per_1m(0.001), None, per_1k_to_per_1m(0.002))
    cost = call_cost(Usage.from_metadata(response.usage_metadata), price)
    assert expected > 0
    assert cost.total_usd == pytest.approx(expected, rel=1e-12)
