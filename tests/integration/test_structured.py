"""Structured output streamed from the real embedded model: the object grows, the figures hold."""

from __future__ import annotations

import pytest

from core.call.models import build_chat_model
from core.patterns.structured import PRESETS, stream_structured


@pytest.fixture
def roomy_llm(local_settings, local_endpoint):
    """The embedded model with room for a whole object (the shared fixture stops at 24 tokens)."""
    return build_chat_model(local_settings, local_endpoint, max_tokens=160)


def test_json_schema_object_grows_field_by_field_and_is_valid(roomy_llm) -> None:
    preset = PRESETS["person"]
    seen: list[dict] = []
    run = stream_structured(roomy_llm, preset.schema, preset.prompt, method="json_schema",
                            on_partial=seen.append)
    assert run.problem is None, run.problem
    # The page draws what LangChain yields: it must grow, one field after another.
    sizes = [len(p) for p in seen]
    assert len(seen) > 5 and sizes == sorted(sizes) and sizes[-1] == 3
    assert set(run.parsed) == {"name", "age", "hobbies"} and run.errors_against_schema == []
    figures = run.figures
    assert figures is not None
    assert 0 < figures.first_piece_s <= figures.first_field_s < figures.valid_object_s <= figures.trace.e2e_s
    # Every streamed piece is counted once; llama.cpp streams about one token per piece (a few
    # pieces carry two: 34 pieces for 37 tokens here).
    assert 0.8 * figures.output_tokens <= figures.split.total <= figures.output_tokens
    assert figures.split.values > 0 and figures.split.syntax > 0 and figures.split.keys >= 3
    assert run.wire is not None and run.wire["response_format"]["type"] == "json_schema"
    assert "tools" not in run.wire


def test_an_object_cut_at_max_tokens_is_named_as_cut(local_settings, local_endpoint) -> None:
    short = build_chat_model(local_settings, local_endpoint, max_tokens=6)
    preset = PRESETS["person"]
    seen: list[dict] = []
    run = stream_structured(short, preset.schema, preset.prompt, on_partial=seen.append)
    assert run.problem is not None and run.problem.kind == "cut_at_max_tokens"
    assert "invalid json" not in run.problem.title.lower() and "all 6" in run.problem.fix
    assert seen, "the partial object streamed before the cut is kept"
    assert run.figures is not None and run.figures.valid_object_s is None


def test_a_schema_the_server_cannot_compile_is_named(roomy_llm) -> None:
    preset = PRESETS["unsupported"]
    run = stream_structured(roomy_llm, preset.schema, preset.prompt)
    assert run.problem is not None and run.problem.kind == "schema_rejected"
    assert "$ref" in run.problem.detail or "defs" in run.problem.detail


def test_methods_put_different_fields_on_the_wire(roomy_llm) -> None:
    preset = PRESETS["person"]
    function = stream_structured(roomy_llm, preset.schema, preset.prompt, method="function_calling")
    json_mode = stream_structured(roomy_llm, preset.schema, preset.prompt, method="json_mode")
    assert function.wire is not None and function.wire["tools"][0]["function"]["name"] == "Person"
    assert function.wire["tool_choice"]["function"]["name"] == "Person"
    # llama.cpp's own chat template for this model ignores tools: no object, said in words.
    assert function.parsed is None and function.problem is None and "no tool call" in (function.note or "")
    assert json_mode.wire == {"response_format": {"type": "json_object"}}
    assert isinstance(json_mode.parsed, dict)


def test_include_raw_returns_the_raw_text_and_no_parse_error(roomy_llm) -> None:
    preset = PRESETS["review"]
    run = stream_structured(roomy_llm, preset.schema, preset.prompt, include_raw=True)
    assert run.problem is None and run.parsing_error is None
    assert run.raw_text.lstrip().startswith("{") and run.updates == 1
    assert run.parsed["verdict"] in ("watch", "skip")
