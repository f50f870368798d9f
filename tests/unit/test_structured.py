"""Structured output's pure rules, on traces recorded from the embedded model.

tests/unit/data/structured-traces.json holds two real streams of the Person preset (SmolLM2-135M,
temperature 0): one whole, one cut at 9 max tokens. Their chunks keep their measured times.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.call.errors import explain_error
from core.call.trace import COMPLETE, FAILED, CallTrace, HttpAttempt, Outcome, StreamChunk
from core.call.usage import Usage
from core.patterns.structured import (
    PRESETS,
    SchemaProblem,
    filled_fields,
    json_pieces,
    parse_schema_text,
    partial_frames,
    prompt_for,
    schema_errors,
    structured_figures,
    token_split,
    wire_fields,
)

RECORDED = json.loads((Path(__file__).parent / "data" / "structured-traces.json").read_text())
PERSON = PRESETS["person"].schema


def recorded(name: str) -> CallTrace:
    data = RECORDED[name]
    usage = Usage(data["usage"][0], data["usage"][1], sum(data["usage"])) if data["usage"] else None
    return CallTrace(
        "r", origin=data["origin"], lc_end=data["lc_end"], finished=data["finished"], streamed=True,
        chunks=[StreamChunk(at, text, usage_, args=args) for at, text, usage_, args in data["chunks"]],
        outcome=Outcome(COMPLETE if data["problem"] is None else FAILED, usage=usage,
                        finish_reason=data["finish_reason"]),
    )


def test_partial_frames_grow_one_field_after_another_and_end_on_the_object() -> None:
    frames = partial_frames(recorded("person"))
    assert [f.at_s for f in frames] == sorted(f.at_s for f in frames)
    # Field counts never go down, and the last frame is the whole answer.
    counts = [f.fields for f in frames]
    assert counts == sorted(counts) and counts[0] == 0 and counts[-1] == 3
    assert frames[-1].value == {"name": "Luna", "age": 20, "hobbies": ["cat", "dog", "bird"]}
    # Each field appears before the next one starts: name, then age, then hobbies.
    order = [next(i for i, f in enumerate(frames) if key in f.value) for key in ("name", "age", "hobbies")]
    assert order == sorted(order)


def test_figures_read_off_the_trace_are_in_order_and_count_every_piece() -> None:
    trace = recorded("person")
    f = structured_figures(trace, PERSON)
    assert 0 < f.first_piece_s < f.first_field_s < f.valid_object_s <= f.trace.e2e_s
    # The object is valid only once its closing brace arrived: at the last piece with text.
    assert f.valid_object_s == pytest.approx(json_pieces(trace)[-1][0] - trace.origin)
    assert f.split.total == len(json_pieces(trace))
    assert f.split.keys == 5  # "name", "age", and "hobbies" in three pieces ("h", "ob", "bies")
    assert f.split.syntax > f.split.values  # a small object is mostly braces, quotes and commas
    assert f.output_tokens == 37


def test_a_cut_object_has_fields_but_never_a_valid_object() -> None:
    trace = recorded("person_cut")
    f = structured_figures(trace, PERSON)
    assert f.first_field_s is not None and f.valid_object_s is None
    assert f.output_tokens is None  # a failed call: usage not reported, never 0
    assert partial_frames(trace)[-1].value == {"name": "Luna"}


def test_function_calling_streams_its_json_as_tool_call_arguments() -> None:
    trace = CallTrace("r", origin=0.0, chunks=[
        StreamChunk(0.1, "", args='{"na'), StreamChunk(0.2, "", args='me": "Al"'), StreamChunk(0.3, "", args="}"),
    ])
    assert json_pieces(trace) == [(0.1, '{"na'), (0.2, 'me": "Al"'), (0.3, "}")]
    f = structured_figures(trace, {"type": "object", "required": ["name"]})
    assert (f.first_field_s, f.valid_object_s) == (0.2, 0.3)


def test_a_valid_object_must_satisfy_the_schema_not_just_parse() -> None:
    trace = CallTrace("r", origin=0.0, chunks=[StreamChunk(0.1, '{"age": "old"'), StreamChunk(0.2, "}")])
    assert structured_figures(trace, PERSON).valid_object_s is None
    assert structured_figures(trace, None).valid_object_s == 0.2
    assert "age: 'old' is not of type 'integer'" in schema_errors({"age": "old"}, PERSON)


def test_token_split_counts_a_piece_by_the_most_telling_thing_it_carried() -> None:
    assert token_split(['{"', "name", '":', ' "', "Lu", 'na"', "}"]).values == 2
    assert token_split(['{"', "name", '":', ' "', "Lu", 'na"', "}"]).keys == 1
    # Escaped quotes stay inside the value; a fenced block's back-ticks are framing.
    split = token_split(["```json\n", '{"a": "say \\"hi\\""}', "\n```"])
    assert (split.syntax, split.values) == (1, 2)
    assert token_split([]).share(0) is None


def test_filled_fields_ignore_placeholders_the_partial_parser_makes() -> None:
    # parse_partial_json closes an open string as "" and an open list as [""].
    assert filled_fields({"name": "", "hobbies": [""]}) == 0
    assert filled_fields({"age": 0, "ok": False}) == 2
    assert filled_fields(["not", "an", "object"]) == 0


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "The schema is empty"),
        ('{"type": "object",', "not JSON: line 1, column 19"),
        ("[1, 2]", "must be a JSON object, not a list"),
        ('{"type": "string"}', 'describe an object at the top'),
        ('{"type": "object", "properties": {"a": {"minLength": "two"}}}',
         "Not a valid JSON Schema at properties → a → minLength"),
    ],
)
def test_a_bad_custom_schema_says_what_and_where(text: str, said: str) -> None:
    with pytest.raises(SchemaProblem, match=None) as caught:
        parse_schema_text(text)
    assert said in str(caught.value)


def test_a_good_custom_schema_keeps_its_title_or_gets_one() -> None:
    assert parse_schema_text('{"title": "Mine", "type": "object"}')["title"] == "Mine"
    assert parse_schema_text('{"type": "object"}')["title"] == "Answer"


def test_the_wire_shows_the_structured_fields_of_the_request_and_no_key() -> None:
    body = json.dumps({"model": "m", "messages": [], "tools": [{"type": "function"}],
                       "tool_choice": "required", "stream": True}).encode()
    trace = CallTrace("r", attempts=[HttpAttempt(1, 0.0, request_body=body)])
    assert wire_fields(trace) == {"tools": [{"type": "function"}], "tool_choice": "required"}
    assert wire_fields(CallTrace("r")) is None
    assert wire_fields(CallTrace("r", attempts=[HttpAttempt(1, 0.0, request_body=b"not json")])) is None


def test_json_mode_prompt_names_json_once() -> None:
    assert prompt_for("json_mode", "Give JSON for a cat.") == "Give JSON for a cat."
    assert prompt_for("function_calling", "A cat.") == "A cat."


def test_a_length_cut_is_named_as_cut_not_as_invalid_json() -> None:
    import openai
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_construct(usage=CompletionUsage(completion_tokens=9, prompt_tokens=3, total_tokens=12))
    problem = explain_error(openai.LengthFinishReasonError(completion=completion))
    assert problem.kind == "cut_at_max_tokens" and "all 9 were used" in problem.fix
    assert "invalid" not in (problem.title + problem.detail).lower()
