"""AppTest of the Structured output page: the real script, the real embedded model."""

from __future__ import annotations

import json
from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_streaming_a_preset_shows_the_object_its_figures_and_the_wire(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/structured.py")
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at = _click(at, "Stream the object")
    obj = json.loads(at.json[1].value)  # [0] is the schema, [1] the object
    assert set(obj) == {"name", "age", "hobbies"}
    first, valid = _metric(at, "First field"), _metric(at, "Valid object")
    assert first.endswith(("ms", " s")) and valid.endswith(("ms", " s"))
    assert any("carried values" in c.value for c in at.caption)
    wire = json.loads(at.json[2].value)
    assert wire["response_format"]["type"] == "json_schema" and "Person" in json.dumps(wire)
    # The call went through the session ledger, under this page's pattern.
    assert [r.pattern for r in at.session_state["lab.ledger"].records()] == ["structured"]
    assert any('method="json_schema"' in c.value for c in at.code)


def test_an_invalid_custom_schema_says_where_and_makes_no_call(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/structured.py")
    at.selectbox(key="structured.preset").set_value("custom").run()
    at.text_area(key="structured.custom").set_value('{"type": "object", "properties": {"age": {"type": "integr"}}}').run()
    assert "Not a valid JSON Schema at properties → age → type" in at.error[0].value
    at.text_area(key="structured.custom").set_value('{"type": "object", "properties": ').run()
    assert "not JSON: line 1, column" in at.error[0].value
    at = _click(at, "Stream the object")
    assert any("Fix the schema above first" in w.value for w in at.warning)
    assert at.session_state["lab.ledger"].records() == []


def test_a_cut_object_and_a_rejected_schema_are_named(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/structured.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(5)
    at = _click(at, "Stream the object")
    assert "Cut at max tokens" in at.error[0].value and "all 5 were used" in at.error[0].value
    assert "invalid json" not in at.error[0].value.lower()
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(128)
    at.selectbox(key="structured.preset").set_value("unsupported").run()
    at = _click(at, "Stream the object")
    assert any("cannot use this schema" in e.value for e in at.error)


def test_include_raw_shows_the_raw_answer_and_compare_shows_three_methods(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/structured.py")
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.toggle(key="structured.include_raw").set_value(True).run()
    at = _click(at, "Stream the object")
    assert any("include_raw=True" in m.value for m in at.markdown if "raw answer" in m.value)
    assert at.code[0].value.lstrip().startswith("{")
    at = _click(at, "Compare the three methods")
    headings = [m.value for m in at.markdown if m.value.startswith("#### `")]
    assert headings == ["#### `json_schema`", "#### `function_calling`", "#### `json_mode`"]
    # The embedded model's template ignores tools: function_calling returns None, said so.
    assert any("made no tool call" in i.value for i in at.info)
    assert len(at.session_state["lab.ledger"].records()) == 4
