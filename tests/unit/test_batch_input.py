"""Batch input parsing: every good format, and every bad input as a plain message (never a traceback)."""

from __future__ import annotations

import random
import tomllib

import pytest

from core.batch.inputs import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    BatchInput,
    BatchInputError,
    InputKind,
    Limits,
    Table,
    parse_batch,
    placeholders,
    read_input,
    suggest_column,
)
from tests.conftest import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "data" / "samples"
CONCEPT_QUESTIONS = [
    "What is the capital of France?",
    "What is 2 + 2?",
    "Who wrote Romeo and Juliet?",
]


def error_of(data: bytes | str, **kwargs: object) -> str:
    with pytest.raises(BatchInputError) as caught:
        parse_batch(data, **kwargs)
    return str(caught.value)


# --- good inputs ---------------------------------------------------------------------------


def test_sample_csv_gives_the_concept_questions_from_its_question_column() -> None:
    data = (SAMPLES / "questions.csv").read_bytes()
    table = read_input(data, filename="questions.csv")
    assert isinstance(table, Table) and table.columns == ["id", "topic", "question"]
    assert suggest_column(table.columns) == "question"
    batch = parse_batch(data, filename="questions.csv", column="question")
    assert batch.prompts[:3] == CONCEPT_QUESTIONS
    assert len(batch) == 12 and batch.skipped_empty == 0
    assert batch.line_numbers[:3] == [2, 3, 4]  # line 1 is the header
    assert batch.preview_rows[0] == {"line": 2, "id": "1", "topic": "geography",
                                     "question": CONCEPT_QUESTIONS[0], "prompt": CONCEPT_QUESTIONS[0]}


def test_csv_template_fills_placeholders_from_each_row_and_keeps_quoted_commas() -> None:
    batch = parse_batch(
        (SAMPLES / "reviews.csv").read_bytes(), filename="reviews.csv",
        template="Is this review of the {product} positive or negative? {review}",
    )
    assert batch.prompts[0] == (
        "Is this review of the Headphones positive or negative? "
        "Great sound, but the battery dies after two hours."
    )
    assert len(batch) == 6


def test_csv_with_semicolons_and_empty_rows_skips_and_counts_them() -> None:
    data = "id;question\n1;What is 2 + 2?\n2;\n\n3;Who wrote Romeo and Juliet?\n\n\n"
    batch = parse_batch(data.encode(), filename="q.csv", column="question")
    assert batch.prompts == ["What is 2 + 2?", "Who wrote Romeo and Juliet?"]
    assert batch.skipped_empty == 2  # the blank value and the blank line; trailing blanks are not rows


def test_jsonl_field_and_template() -> None:
    data = (SAMPLES / "questions.jsonl").read_bytes()
    table = read_input(data, filename="questions.jsonl")
    assert isinstance(table, Table) and table.kind is InputKind.JSONL
    assert table.columns == ["id", "question", "answer_in"]
    assert parse_batch(data, filename="questions.jsonl", column="question").prompts[:3] == CONCEPT_QUESTIONS
    templated = parse_batch(data, filename="questions.jsonl", template="{question} Answer in {answer_in}.")
    assert templated.prompts[1] == "What is 2 + 2? Answer in one number."


def test_jsonl_rows_missing_the_field_are_skipped_and_counted() -> None:
    data = b'{"q": "What is 2 + 2?"}\n{"other": 1}\n{"q": null}\n{"q": 42}\n'
    batch = parse_batch(data, filename="x.jsonl", column="q")
    assert batch.prompts == ["What is 2 + 2?", "42"] and batch.skipped_empty == 2


def test_plain_text_file_and_pasted_text_give_one_prompt_a_line() -> None:
    from_file = read_input((SAMPLES / "prompts.txt").read_bytes(), filename="prompts.txt")
    assert isinstance(from_file, BatchInput)
    assert len(from_file) == 8 and from_file.skipped_empty == 1
    pasted = parse_batch("\n".join(CONCEPT_QUESTIONS) + "\n\n")
    assert pasted.prompts == CONCEPT_QUESTIONS and pasted.skipped_empty == 0
    assert pasted.source == "pasted text"


# --- encodings -----------------------------------------------------------------------------


def test_utf8_with_bom_is_read_without_the_bom_in_the_first_column_name() -> None:
    data = "\ufeffquestion\nCafé au lait?\n".encode("utf-8")
    batch = parse_batch(data, filename="q.csv", column="question")
    assert batch.prompts == ["Café au lait?"] and batch.note is None


def test_windows_1252_is_read_and_the_note_says_so() -> None:
    data = "question\nWhat is a crème brûlée?\n".encode("cp1252")
    batch = parse_batch(data, filename="q.csv", column="question")
    assert batch.prompts == ["What is a crème brûlée?"]
    assert batch.note and "Windows-1252" in batch.note and "UTF-8" in batch.note


def test_utf16_with_bom_is_read() -> None:
    data = "question\nWhat is 2 + 2?\n".encode("utf-16")
    assert parse_batch(data, filename="q.csv", column="question").prompts == ["What is 2 + 2?"]


def test_binary_file_is_refused_in_plain_words() -> None:
    xlsx_like = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U\x9d\x81\xc4"
    message = error_of(xlsx_like, filename="questions.csv", column="question")
    assert "not text in an encoding we can read" in message and "CSV UTF-8" in message


def excel_unicode_text(rows: list[list[str]]) -> bytes:
    """What Excel's "Unicode text" writes: tab-separated, CRLF, UTF-16 little-endian, no BOM."""
    return "".join("\t".join(r) + "\r\n" for r in rows).encode("utf-16-le")


def test_utf16_without_a_bom_from_excel_unicode_text_is_read_and_the_note_says_how_to_avoid_the_guess() -> None:
    data = excel_unicode_text([["id", "question"], ["1", CONCEPT_QUESTIONS[0]], ["2", "Qu'est-ce qu'une crème brûlée ?"]])
    assert not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    batch = parse_batch(data, filename="questions.csv", column="question")
    assert batch.prompts == [CONCEPT_QUESTIONS[0], "Qu'est-ce qu'une crème brûlée ?"]
    assert batch.line_numbers == [2, 3]
    assert batch.note and "UTF-16 (little-endian, no byte-order mark)" in batch.note and "CSV UTF-8" in batch.note


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_as_powershell_redirection_writes_plain_text(encoding: str) -> None:
    data = ("\r\n".join(CONCEPT_QUESTIONS) + "\r\n").encode(encoding)
    batch = parse_batch(data, filename="prompts.txt")
    assert batch.prompts == CONCEPT_QUESTIONS and batch.skipped_empty == 0
    assert batch.note and ("little-endian" if encoding.endswith("le") else "big-endian") in batch.note


def test_cut_utf16_names_its_encoding_and_how_to_save_it_again() -> None:
    data = "question\nWhat is 2 + 2?\n".encode("utf-16-le")[:-1] + "\ud800".encode("utf-16-le", "surrogatepass")
    message = error_of(data, filename="q.csv", column="question")
    assert "looks like UTF-16 (little-endian, no byte-order mark)" in message
    assert "CSV UTF-8" in message and "Out-File -Encoding utf8" in message


def test_nul_bytes_and_control_codes_are_removed_with_a_note_saying_how_many_and_where() -> None:
    data = b"question\nWhat is 2 + 2?\nWho wrote\x00 Romeo\x00 and Juliet?\x1a\n"
    batch = parse_batch(data, filename="q.csv", column="question")
    assert batch.prompts == ["What is 2 + 2?", "Who wrote Romeo and Juliet?"]
    assert batch.note == (
        "Removed 3 control characters (NUL bytes, or codes such as end-of-file) that a prompt "
        "cannot use; the first was on line 3."
    )
    pasted = parse_batch("What is 2 + 2?\nName a \x07colour.")
    assert pasted.prompts == ["What is 2 + 2?", "Name a colour."] and "Removed 1 control character " in str(pasted.note)


def test_form_feeds_and_unicode_line_separators_do_not_shift_line_numbers() -> None:
    text = "What is 2 + 2?\x0c\nName a colour.\u2028Any.\nWho wrote Romeo and Juliet?\n"
    batch = parse_batch(text.encode(), filename="prompts.txt")
    assert batch.line_numbers == [1, 2, 3] and len(batch) == 3
    jsonl = '{"q": "a\u2028b"}\n{"q": "What is 2 + 2?"\n'.encode()
    assert error_of(jsonl, filename="q.jsonl", column="q").startswith("Malformed JSON on line 2,")


def test_a_file_that_is_mostly_control_codes_is_refused_naming_the_first_line() -> None:
    data = b"question\nfine\n" + b"\x01\x02\x03\x04\x05" * 10 + b"\n"
    message = error_of(data, filename="q.csv", column="question")
    assert message.startswith("Line 3 and many others hold control characters") and "CSV UTF-8" in message


def test_an_unclosed_quote_names_the_line_where_the_value_started() -> None:
    message = error_of(b'question\nWhat is 2 + 2?\n"Who wrote\nRomeo and Juliet?\n', filename="q.csv", column="question")
    assert message.startswith("Malformed CSV at line 3 (the value starting there runs on to line 4)")


# --- malformed input -----------------------------------------------------------------------


def test_csv_row_with_an_extra_field_names_its_line() -> None:
    message = error_of((SAMPLES / "broken.csv").read_bytes(), filename="broken.csv", column="question")
    assert message.startswith("Malformed CSV: line 4 has 3 fields but the header (line 1) has 2")


def test_csv_unclosed_quote_names_a_line() -> None:
    message = error_of(b'question\n"What is 2 + 2?\nWho wrote it?\n', filename="q.csv", column="question")
    assert message.startswith("Malformed CSV at line") and "quote" in message


def test_csv_header_problems() -> None:
    assert "names the column 'a' twice" in error_of(b"a,a\n1,2\n", filename="q.csv", column="a")
    assert "empty column name at position 2" in error_of(b"a,,c\n1,2,3\n", filename="q.csv", column="a")


def test_malformed_json_names_line_and_column() -> None:
    data = b'{"q": "What is 2 + 2?"}\n\n{"q": "Who wrote Romeo and Juliet?"\n'
    message = error_of(data, filename="q.jsonl", column="q")
    assert message.startswith("Malformed JSON on line 3, column 36")


def test_json_array_and_non_object_lines_are_explained() -> None:
    assert "one JSON array, not JSON Lines" in error_of(b'[{"q": "a"}]', filename="q.json", column="q")
    assert "Line 2 holds a JSON list, not an object" in error_of(b'{"q": "a"}\n[1, 2]\n', filename="q.jsonl", column="q")


def test_unknown_column_lists_the_available_ones() -> None:
    message = error_of((SAMPLES / "questions.csv").read_bytes(), filename="questions.csv", column="prompt")
    assert message == "There is no column 'prompt'. Available: id, topic, question."


def test_unknown_placeholder_lists_the_available_ones() -> None:
    message = error_of(
        (SAMPLES / "questions.jsonl").read_bytes(), filename="questions.jsonl",
        template="Answer {questoin} in {style}",
    )
    assert message == (
        "The template uses {questoin} and {style}, which the file does not have. "
        "Available fields: id, question, answer_in."
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Answer {}", "empty braces"),
        ("Answer {question", "cannot be read"),
        ("Answer {question!r}", "not supported"),
        ("   ", "The template is empty"),
    ],
)
def test_bad_templates_are_explained(template: str, expected: str) -> None:
    data = (SAMPLES / "questions.csv").read_bytes()
    assert expected in error_of(data, filename="questions.csv", template=template)


def test_placeholders_are_listed_once_in_order_and_literal_braces_are_not_placeholders() -> None:
    assert placeholders("{b} {a} {b} {{not}}") == ["b", "a"]


# --- empty, too big, too many ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["q.csv", "q.jsonl", "q.txt"])
def test_empty_file(name: str) -> None:
    assert error_of(b"  \n\n", filename=name, column="q") == "The file is empty."


def test_empty_paste_asks_for_a_prompt() -> None:
    assert error_of("") == "Paste at least one prompt, one per line."


def test_header_without_rows_and_all_empty_rows() -> None:
    assert error_of(b"id,question\n", filename="q.csv", column="question") == (
        "The CSV file has a header but no rows under it."
    )
    assert error_of(b"id,question\n1,\n2,  \n", filename="q.csv", column="question") == (
        "No prompts: all 2 rows are empty (q.csv · column question)."
    )


def test_over_the_size_limit_for_files_and_pasted_text() -> None:
    limits = Limits(max_bytes=1024)
    big = "What is 2 + 2?\n" * 100  # 1,500 bytes
    expected = "The input is 1.5 KB; the limit is 1 KB. Split it into smaller files."
    assert error_of(big.encode(), filename="q.txt", limits=limits) == expected
    assert error_of(big, limits=limits) == expected


def test_row_cap_default_is_1000_and_is_configurable() -> None:
    assert DEFAULT_MAX_ROWS == 1000
    assert len(parse_batch("\n".join(f"What is {i} + {i}?" for i in range(1000)))) == 1000
    message = error_of("\n".join(f"What is {i} + {i}?" for i in range(1001)))
    assert message.startswith("There are 1,001 prompts; one batch takes at most 1,000.")
    assert "LAB_BATCH_MAX_ROWS" in message
    assert "at most 2" in error_of("a\nb\nc\n", limits=Limits(max_rows=2))


def test_size_limit_matches_streamlits_upload_limit() -> None:
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == DEFAULT_MAX_BYTES


def test_random_bytes_never_raise_anything_but_a_plain_message() -> None:
    rng = random.Random(7)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        for name in ("x.csv", "x.jsonl", "x.txt"):
            try:
                parse_batch(data, filename=name, column="x")
            except BatchInputError as exc:
                assert str(exc)  # noqa: PT017 - most random inputs parse: no pytest.raises


# --- files that used to end in a traceback (issue 30) --------------------------------------------


def test_column_names_with_dots_digits_and_brackets_fill_a_template_by_name() -> None:
    """`str.format` read {price.usd} as an attribute and {0} as a position: KeyError, ValueError."""
    data = b"price.usd,0,size[cm],item\n12,first,30,lamp\n7,second,,chair\n"
    batch = parse_batch(data, filename="prices.csv",
                        template="The {0} item, a {item} ({size[cm]} cm), costs {price.usd} USD. {{ok}}")
    assert batch.prompts == [
        "The first item, a lamp (30 cm), costs 12 USD. {ok}",
        "The second item, a chair ( cm), costs 7 USD. {ok}",
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Answer {question", "a single '{' at character 8 has no partner"),
        ("Answer question}", "a single '}' at character 16 has no partner"),
        ("Answer {question:>10}", "Write the placeholder {question:>10} as just {question}"),
    ],
)
def test_broken_braces_name_where_they_are(template: str, expected: str) -> None:
    assert expected in error_of((SAMPLES / "questions.csv").read_bytes(), filename="questions.csv", template=template)


def test_a_jsonl_line_nested_100000_deep_is_named() -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    message = error_of(b'{"question": "What is 2 + 2?"}\n' + deep + b"\n", filename="q.jsonl", column="question")
    assert message.startswith("Line 2 nests objects or lists inside each other too deeply to read")
    assert "flatten that line or remove it" in message


def test_a_jsonl_number_with_5000_digits_is_named_with_its_line_and_column() -> None:
    data = b'{"question": "What is 2 + 2?"}\n{"id": ' + b"7" * 5000 + b', "question": "Hi"}\n'
    message = error_of(data, filename="q.jsonl", column="question")
    assert message == (
        "Line 2, column 8 holds a number with 5,000 digits, more than the 4,300 a number may "
        "have here. Put it in quotes to keep it as text, or remove it."
    )


def test_a_visitor_sees_no_traceback_and_streamlit_accepts_the_setting() -> None:
    from streamlit.config import ShowErrorDetailsConfigOptions

    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    shown = config["client"]["showErrorDetails"]
    # "type" and "none" keep the message and the traceback (source paths) for the terminal only.
    assert shown in (ShowErrorDetailsConfigOptions.TYPE.value, ShowErrorDetailsConfigOptions.NONE.value)
