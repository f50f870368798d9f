"""Batch input: turn an uploaded file or pasted text into a list of prompts, or say why not.

Three formats, told apart by the file name: CSV (a prompt column, or a template such as
``"Answer briefly: {question}"`` filled from each row), JSON Lines (a field, or a template) and
plain text (one prompt a line). Every problem a user can cause — a malformed line, an unknown
column, an encoding that is not UTF-8, an empty or oversized file, too many rows — becomes a
`BatchInputError` whose message says what is wrong, where, and what to do. Nothing here raises
anything else for bad input, so a page can show the message instead of a traceback.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

# Keep in step with `server.maxUploadSize` in .streamlit/config.toml (a test checks): Streamlit
# refuses bigger uploads itself, this limit also covers pasted text and direct calls.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ROWS = 1_000
PREVIEW_ROWS = 5


class BatchInputError(ValueError):
    """Input that cannot become a batch. `str(error)` is the plain-words message for the user."""


class InputKind(str, enum.Enum):
    """The three file formats a batch can come from."""

    CSV = "csv"
    JSONL = "jsonl"
    TEXT = "text"

    @property
    def label(self) -> str:
        return {InputKind.CSV: "CSV", InputKind.JSONL: "JSON Lines", InputKind.TEXT: "plain text"}[self]


@dataclass(frozen=True)
class Limits:
    """How much input a batch may have.

    Attributes:
        max_bytes: largest file or pasted text, in bytes.
        max_rows: most prompts in one batch (after empty rows are skipped).
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        """The row cap from `LAB_BATCH_MAX_ROWS` (default 1,000; a value that is not a number
        is ignored, and at least one row is always allowed).

        Example:
            >>> Limits.from_env({"LAB_BATCH_MAX_ROWS": "50"}).max_rows, Limits.from_env({}).max_rows
            (50, 1000)
            >>> Limits.from_env({"LAB_BATCH_MAX_ROWS": "lots"}).max_rows
            1000
        """
        raw = env.get("LAB_BATCH_MAX_ROWS", "").strip()
        try:
            max_rows = max(1, int(raw)) if raw else DEFAULT_MAX_ROWS
        except ValueError:
            max_rows = DEFAULT_MAX_ROWS
        return cls(max_rows=max_rows)


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, with the encoding used and a note when it was not UTF-8."""

    text: str
    encoding: str
    note: str | None = None


@dataclass(frozen=True)
class Table:
    """Rows of a CSV or JSON Lines file, before a prompt column or template is chosen.

    Attributes:
        kind: CSV or JSON Lines.
        columns: column names (CSV header) or fields (union over all JSON objects, in order).
        records: (line number in the file, row as a dict of strings).
        note: e.g. which encoding was used when the file was not UTF-8.
    """

    kind: InputKind
    columns: list[str]
    records: list[tuple[int, dict[str, str]]]
    note: str | None = None


@dataclass(frozen=True)
class BatchInput:
    """The prompts of one batch, ready to run.

    Attributes:
        prompts: one prompt per call, in file order.
        line_numbers: the line each prompt came from (1-based, as an editor shows it).
        source: where they came from, for people ("questions.csv · column question").
        skipped_empty: rows left out because their prompt would be empty.
        note: a remark worth showing (a non-UTF-8 encoding that was used).
    """

    prompts: list[str]
    line_numbers: list[int]
    source: str
    skipped_empty: int = 0
    note: str | None = None
    preview_rows: list[dict[str, object]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)


def kind_for_filename(name: str) -> InputKind:
    """The format a file name implies: .csv/.tsv → CSV, .jsonl/.ndjson/.json → JSON Lines, else text.

    Example:
        >>> kind_for_filename("questions.CSV").value, kind_for_filename("notes.txt").value
        ('csv', 'text')
    """
    suffix = PurePath(name).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return InputKind.CSV
    if suffix in (".jsonl", ".ndjson", ".json"):
        return InputKind.JSONL
    return InputKind.TEXT


def check_size(n_bytes: int, limits: Limits = Limits()) -> None:
    """Refuse input over the size limit.

    Example:
        >>> check_size(10, Limits(max_bytes=5))
        Traceback (most recent call last):
        ...
        core.batch.inputs.BatchInputError: The input is 10 bytes; the limit is 5 bytes. Split it into smaller files.
    """
    if n_bytes > limits.max_bytes:
        raise BatchInputError(
            f"The input is {_size(n_bytes)}; the limit is {_size(limits.max_bytes)}. "
            "Split it into smaller files."
        )


def decode_bytes(data: bytes) -> Decoded:
    """Decode a file: UTF-8 (with or without BOM), UTF-16 (with a BOM, or without one when its
    NUL bytes give it away), else Windows-1252.

    UTF-16 without a byte-order mark is what Excel's "Unicode text" and PowerShell's `>`
    redirection write: every ASCII character is followed (little-endian) or preceded
    (big-endian) by a NUL byte, a pattern no UTF-8 or Windows-1252 text has. Windows-1252 is
    what Excel on Windows writes as "CSV" in Western Europe; it is tried only after UTF-8
    fails, and the note says so, because a wrong guess garbles accents rather than failing.
    Bytes that no text encoding explains (mostly control codes) are refused.

    Example:
        >>> decode_bytes("café".encode("utf-8")).encoding
        'utf-8'
        >>> d = decode_bytes("café".encode("cp1252"))
        >>> d.text, d.encoding
        ('café', 'cp1252')
        >>> decode_bytes("question\\nWhat is 2 + 2?\\n".encode("utf-16-le")).encoding
        'utf-16-le'
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return Decoded(data.decode("utf-16"), "utf-16", "Read as UTF-16 (it has a byte-order mark).")
        except UnicodeDecodeError:
            pass
    else:
        utf16 = _utf16_without_bom(data)
        if utf16 is not None:
            try:
                text = data.decode(utf16)
            except UnicodeDecodeError:
                raise BatchInputError(
                    f"This file looks like UTF-16 ({_UTF16_NAMES[utf16]}, no byte-order mark), "
                    "but it is cut or damaged and cannot be read. Save it again as UTF-8: in "
                    "Excel, File › Save As › \"CSV UTF-8\"; in PowerShell, write it with "
                    "`Out-File -Encoding utf8` (or `Set-Content -Encoding utf8`) instead of `>`."
                ) from None
            return Decoded(
                text,
                utf16,
                f"Read as UTF-16 ({_UTF16_NAMES[utf16]}, no byte-order mark), as Excel's "
                "\"Unicode text\" and PowerShell's > write it. Saving as \"CSV UTF-8\" avoids "
                "the guess.",
            )
        try:
            return Decoded(data.decode("utf-8-sig"), "utf-8")
        except UnicodeDecodeError:
            pass
        if b"\x00" not in data:
            cp1252: str | None
            try:
                cp1252 = data.decode("cp1252")
            except UnicodeDecodeError:
                cp1252 = None
            if cp1252 is not None and not _mostly_control_chars(cp1252):
                text = cp1252
                return Decoded(
                    text,
                    "cp1252",
                    "This file is not UTF-8; it was read as Windows-1252 (Western European). "
                    "If accented letters look wrong, save it as UTF-8 and upload it again.",
                )
    raise BatchInputError(
        "This file is not text in an encoding we can read (UTF-8, UTF-16 with a byte-order "
        "mark, or Windows-1252). It may be a binary file such as a spreadsheet (.xlsx): save or "
        "export it as CSV UTF-8 and upload that."
    )


_UTF16_NAMES = {"utf-16-le": "little-endian", "utf-16-be": "big-endian"}


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when NUL bytes sit in every other position, else None.

    Mostly-ASCII UTF-16 has a NUL in the high byte of nearly every character: odd positions
    (little-endian) or even ones (big-endian), and almost none on the other side.
    """
    sample = data[:8192]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_nuls = sample[0 : 2 * pairs : 2].count(0)
    odd_nuls = sample[1 : 2 * pairs : 2].count(0)
    if odd_nuls >= 0.3 * pairs and even_nuls <= 0.05 * pairs:
        return "utf-16-le"
    if even_nuls >= 0.3 * pairs and odd_nuls <= 0.05 * pairs:
        return "utf-16-be"
    return None


def _is_control(char: str) -> bool:
    # Tabs and line ends are layout; every other C0/C1 control code (NUL, form feed, the DOS
    # end-of-file mark, ...) is invisible and means nothing in a prompt.
    code = ord(char)
    return (code < 32 and char not in "\t\n\r") or 0x7F <= code <= 0x9F


def _mostly_control_chars(text: str) -> bool:
    """A binary file read as text: more than 8 control codes, and over 1 in 20 characters.

    (A few stray NULs or an end-of-file mark in a short text file are cleaned, not refused.)
    """
    controls = sum(map(_is_control, text))
    return controls > 8 and controls * 20 > len(text)


def remove_control_chars(text: str) -> tuple[str, str | None]:
    """Strip NUL bytes and other control characters; return the text and a note saying how many.

    A file that is mostly control codes is no text file: it is refused, naming the first line
    that has one.

    Example:
        >>> text, note = remove_control_chars("What is 2 + 2?\\x00\\nName a colour.\\x1a\\n")
        >>> text
        'What is 2 + 2?\\nName a colour.\\n'
        >>> note
        'Removed 2 control characters (NUL bytes, ...) that a prompt cannot use; the first was on line 1.'
    """
    if not any(map(_is_control, text)):
        return text, None
    first_line = next(n for n, line in enumerate(_editor_lines(text), start=1) if any(map(_is_control, line)))
    if _mostly_control_chars(text):
        raise BatchInputError(
            f"Line {first_line} and many others hold control characters (NUL bytes or other "
            "invisible codes): this looks like a binary file, not text. Save or export it as "
            "CSV UTF-8 (or plain text) and upload that."
        )
    removed = sum(map(_is_control, text))
    cleaned = "".join(c for c in text if not _is_control(c))
    return cleaned, (
        f"Removed {removed:,} control character{'s' if removed != 1 else ''} (NUL bytes, or codes "
        f"such as end-of-file) that a prompt cannot use; the first was on line {first_line:,}."
    )


def _editor_lines(text: str) -> list[str]:
    """The lines an editor shows: split at \\n, \\r\\n or \\r only.

    (`str.splitlines` also splits at form feeds, \\x1c-\\x1e, U+0085 and U+2028, which would make
    line numbers disagree with the user's editor.)

    Example:
        >>> _editor_lines("a\\r\\nb\\u2028c\\n\\n")
        ['a', 'b\\u2028c', '']
    """
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line does not start another
    return lines


def parse_table(text: str, kind: InputKind, *, note: str | None = None) -> Table:
    """Read CSV or JSON Lines text into a `Table`; malformed input names the line.

    Example:
        >>> t = parse_table("id,question\\n1,What is 2 + 2?\\n", InputKind.CSV)
        >>> t.columns, t.records
        (['id', 'question'], [(2, {'id': '1', 'question': 'What is 2 + 2?'})])
    """
    if kind is InputKind.CSV:
        return _parse_csv(text, note)
    if kind is InputKind.JSONL:
        return _parse_jsonl(text, note)
    raise ValueError(f"{kind} is not a table format")


def _parse_csv(text: str, note: str | None) -> Table:
    if not text.strip():
        raise BatchInputError("The file is empty.")
    first_line = text.lstrip("\n").split("\n", 1)[0]
    # Excel in many locales writes ';'; tab-separated files are common too.
    delimiter = max((",", ";", "\t"), key=first_line.count)
    if first_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    record_start = 1  # the line the record being read starts on (a quoted value spans lines)
    try:
        header: list[str] | None = None
        records: list[tuple[int, dict[str, str]]] = []
        header_line = 0
        for row in reader:
            line = record_start
            record_start = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                if header is not None:
                    records.append((line, {}))  # an empty row: skipped later, and counted
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                header_line = line
                _check_header(header, line)
                continue
            if len(row) != len(header):
                raise BatchInputError(
                    f"Malformed CSV: line {line} has {len(row)} fields but the header (line "
                    f"{header_line}) has {len(header)}. Check for an unquoted "
                    f"'{delimiter if delimiter != chr(9) else 'tab'}' inside a value, or a "
                    "missing one; values containing it must be in double quotes."
                )
            records.append((line, dict(zip(header, row, strict=True))))
    except csv.Error as exc:
        where = (
            f"line {record_start}" if record_start >= reader.line_num
            else f"line {record_start} (the value starting there runs on to line {reader.line_num})"
        )
        raise BatchInputError(
            f"Malformed CSV at {where}: {exc}. A quote (\") is probably not "
            "closed; quotes inside a value are written twice (\"\")."
        ) from None
    if header is None:
        raise BatchInputError("The file is empty.")
    while records and not records[-1][1]:
        records.pop()  # blank lines at the end are an editor's habit, not empty rows
    if not any(r for _, r in records):
        raise BatchInputError("The CSV file has a header but no rows under it.")
    return Table(InputKind.CSV, header, records, note)


def _check_header(header: list[str], line: int) -> None:
    if any(not name for name in header):
        position = header.index("") + 1
        raise BatchInputError(
            f"Malformed CSV: the header (line {line}) has an empty column name at position "
            f"{position}. The first line must name every column."
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise BatchInputError(
                f"Malformed CSV: the header (line {line}) names the column '{name}' twice. "
                "Column names must be unique."
            )
        seen.add(name)


def _parse_jsonl(text: str, note: str | None) -> Table:
    if not text.strip():
        raise BatchInputError("The file is empty.")
    if text.lstrip().startswith("["):
        raise BatchInputError(
            "This looks like one JSON array, not JSON Lines. JSON Lines has one object per line, "
            'e.g. {"question": "What is 2 + 2?"} — or upload the prompts as CSV or plain text.'
        )
    columns: dict[str, None] = {}
    records: list[tuple[int, dict[str, str]]] = []
    for line_no, line in enumerate(_editor_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            if isinstance(value, str):
                value = {"text": value}
            if not isinstance(value, dict):
                raise BatchInputError(
                    f"Line {line_no} holds a JSON {type(value).__name__}, not an object. Each line "
                    'must be an object such as {"question": "..."}.'
                )
            row = {str(k): _as_text(v) for k, v in value.items()}
        except BatchInputError:
            raise
        except json.JSONDecodeError as exc:
            raise BatchInputError(
                f"Malformed JSON on line {line_no}, column {exc.colno}: {exc.msg}. Each line "
                "must be one complete JSON object."
            ) from None
        except RecursionError:
            # Python's JSON reader recurses once per level: ~1,000 levels exhaust its stack.
            raise BatchInputError(
                f"Line {line_no} nests objects or lists inside each other too deeply to read "
                "(hundreds of levels). Each line must be one object such as "
                '{"question": "..."}: flatten that line or remove it.'
            ) from None
        except ValueError as exc:  # an integer longer than Python converts (sys.int_info)
            raise BatchInputError(_long_number_message(f"Line {line_no}", line, exc)) from None
        for key in row:
            columns.setdefault(key, None)
        records.append((line_no, row))
    if not columns:
        raise BatchInputError("The JSON Lines file has no fields: every object is empty.")
    return Table(InputKind.JSONL, list(columns), records, note)


def _long_number_message(where: str, text: str, exc: ValueError) -> str:
    """The words for an integer too long to read (Python refuses over 4,300 digits by default).

    Example:
        >>> print(_long_number_message("Line 3", '{"id": ' + "9" * 5000 + "}", ValueError()))
        Line 3, column 8 holds a number with 5,000 digits, more than the 4,300 a number may have here. Put it in quotes to keep it as text, or remove it.
    """
    limit = sys.get_int_max_str_digits() or 4300
    found = re.search(rf"\d{{{limit + 1},}}", text)
    if found is None:  # not a long number after all: name the error as it is
        return f"{where} cannot be read ({type(exc).__name__}: {exc}). Check that line."
    return (
        f"{where}, column {found.start() + 1} holds a number with {len(found.group()):,} digits, "
        f"more than the {limit:,} a number may have here. Put it in quotes to keep it as text, "
        "or remove it."
    )


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


#: A template's pieces: a literal brace written twice, a {placeholder}, or a brace left alone.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _template_parts(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) pairs, in order; the last one has no name.

    A name is whatever stands between the braces — ``price.usd``, ``0`` and ``a[b]`` are
    column names here, not Python's attribute, index or positional fields.

    Example:
        >>> _template_parts("Cost {price.usd} ({0}) {{literal}}")
        [('Cost ', 'price.usd'), (' (', '0'), (') {literal}', None)]
    """
    parts: list[tuple[str, str | None]] = []
    literal: list[str] = []
    position = 0
    for token in _TEMPLATE_TOKEN.finditer(template):
        literal.append(template[position:token.start()])
        position = token.end()
        text = token.group()
        if text in ("{{", "}}"):
            literal.append(text[0])
        elif token.group(1) is not None:
            parts.append(("".join(literal), token.group(1)))
            literal = []
        else:
            raise BatchInputError(
                f"The template cannot be read (a single '{text}' at character {token.start() + 1} "
                "has no partner). Put column names in braces, like {question}; write {{ and }} "
                "for a literal brace."
            )
    literal.append(template[position:])
    parts.append(("".join(literal), None))
    return parts


def placeholders(template: str) -> list[str]:
    """The `{names}` a prompt template uses, in order, each once.

    Raises:
        BatchInputError: unbalanced braces, or an empty `{}` (it must name a column).

    Example:
        >>> placeholders("Translate {text} into {language}. Keep {text} short. {{literal}}")
        ['text', 'language']
        >>> placeholders("Convert {price.usd} to euros (row {0}).")
        ['price.usd', '0']
    """
    names: dict[str, None] = {}
    for _, name in _template_parts(template):
        if name is None:
            continue
        if not name.strip():
            raise BatchInputError(
                "The template has empty braces {}: put a column name inside, like {question}."
            )
        names.setdefault(name, None)
    return list(names)


def fill_template(template: str, row: Mapping[str, str]) -> str:
    """The template with each `{name}` replaced by the row's value for that name ("" if none).

    Names are looked up as written, never through `str.format`: a column called ``price.usd``
    or ``0`` is filled like any other.

    Example:
        >>> fill_template("{0}. Convert {price.usd} USD. {{ok}}", {"0": "7", "price.usd": "12"})
        '7. Convert 12 USD. {ok}'
    """
    return "".join(
        literal + (row.get(name, "") if name is not None else "")
        for literal, name in _template_parts(template)
    )


def table_to_batch(
    table: Table,
    *,
    column: str | None = None,
    template: str | None = None,
    source: str = "",
    limits: Limits = Limits(),
) -> BatchInput:
    """Prompts from a table: one column's values, or a template filled from each row.

    Rows whose prompt would be empty (the column is blank, or every placeholder is) are skipped
    and counted.

    Raises:
        BatchInputError: an unknown column or placeholder (the message lists the available
            ones), no prompts left, or more than `limits.max_rows`.

    Example:
        >>> t = parse_table("city,country\\nParis,France\\n,\\nRome,Italy\\n", InputKind.CSV)
        >>> b = table_to_batch(t, template="Which country is {city} in?")
        >>> b.prompts, b.skipped_empty
        (['Which country is Paris in?', 'Which country is Rome in?'], 1)
    """
    if (column is None) == (template is None):
        raise ValueError("pass exactly one of column or template")
    available = ", ".join(table.columns)
    what = "column" if table.kind is InputKind.CSV else "field"
    if column is not None:
        if column not in table.columns:
            raise BatchInputError(f"There is no {what} '{column}'. Available: {available}.")
        names = [column]
        describe = f"{what} {column}"
    else:
        assert template is not None
        if not template.strip():
            raise BatchInputError("The template is empty: write a prompt with {placeholders}.")
        names = placeholders(template)
        unknown = [n for n in names if n not in table.columns]
        formatted = [n for n in unknown if re.split(r"[!:]", n, maxsplit=1)[0] in table.columns]
        if formatted:
            plain = re.split(r"[!:]", formatted[0], maxsplit=1)[0]
            raise BatchInputError(
                f"Write the placeholder {{{formatted[0]}}} as just {{{plain}}}: formatting such "
                "as '!r' or ':>10' is not supported here."
            )
        if unknown:
            raise BatchInputError(
                f"The template uses {_quote_list(unknown)}, which the file does not have. "
                f"Available {what}s: {available}."
            )
        describe = "template"

    prompts: list[str] = []
    lines: list[int] = []
    skipped = 0
    for line, row in table.records:
        if not any(row.get(name, "").strip() for name in names):
            skipped += 1
            continue
        if column is not None:
            prompt = row[column].strip()
        else:
            assert template is not None
            prompt = fill_template(template, row).strip()
        prompts.append(prompt)
        lines.append(line)
    label = f"{source} · {describe}" if source else describe
    return _finish(prompts, lines, skipped, label, table.note, limits, table)


def lines_to_batch(text: str, *, source: str = "pasted text", note: str | None = None,
                   limits: Limits = Limits()) -> BatchInput:
    """One prompt per non-empty line (plain-text files and pasted text).

    Example:
        >>> b = lines_to_batch("What is 2 + 2?\\n\\n  \\nWho wrote Romeo and Juliet?\\n")
        >>> b.prompts, b.line_numbers, b.skipped_empty
        (['What is 2 + 2?', 'Who wrote Romeo and Juliet?'], [1, 4], 2)
    """
    check_size(len(text.encode("utf-8")), limits)
    if not text.strip():
        raise BatchInputError(
            "The file is empty." if source != "pasted text" else "Paste at least one prompt, one per line."
        )
    prompts: list[str] = []
    lines: list[int] = []
    skipped = 0
    all_lines = _editor_lines(text)
    for line_no, line in enumerate(all_lines, start=1):
        if line.strip():
            prompts.append(line.strip())
            lines.append(line_no)
        else:
            skipped += 1
    # Blank lines at the very end are an editor's habit, not rows someone left empty.
    trailing = len(all_lines) - (lines[-1] if lines else 0)
    return _finish(prompts, lines, skipped - trailing, source, note, limits, None)


def _finish(
    prompts: list[str],
    lines: list[int],
    skipped: int,
    source: str,
    note: str | None,
    limits: Limits,
    table: Table | None,
) -> BatchInput:
    if not prompts:
        raise BatchInputError(f"No prompts: all {skipped:,} rows are empty ({source}).")
    if len(prompts) > limits.max_rows:
        raise BatchInputError(
            f"There are {len(prompts):,} prompts; one batch takes at most {limits.max_rows:,}. "
            "Split the file, or raise the limit with LAB_BATCH_MAX_ROWS."
        )
    preview: list[dict[str, object]] = []
    by_line = dict(table.records) if table is not None else {}
    for prompt, line in list(zip(prompts, lines, strict=True))[:PREVIEW_ROWS]:
        row: dict[str, object] = {"line": line}
        row.update(by_line.get(line, {}))
        row["prompt"] = prompt
        preview.append(row)
    return BatchInput(prompts, lines, source, skipped, note, preview)


def parse_batch(
    data: bytes | str,
    *,
    filename: str = "pasted text",
    column: str | None = None,
    template: str | None = None,
    limits: Limits = Limits(),
) -> BatchInput:
    """Bytes of an upload (or pasted text) to a batch, in one call.

    For CSV and JSON Lines pass `column` or `template`; plain text needs neither.

    Raises:
        BatchInputError: anything wrong with the input, in plain words.

    Example:
        >>> data = b'{"q": "What is the capital of France?"}\\n{"q": "What is 2 + 2?"}\\n'
        >>> parse_batch(data, filename="questions.jsonl", column="q").prompts
        ['What is the capital of France?', 'What is 2 + 2?']
    """
    table_or_batch = read_input(data, filename=filename, limits=limits)
    if isinstance(table_or_batch, BatchInput):
        return table_or_batch
    if column is None and template is None:
        raise BatchInputError(
            f"Choose which column holds the prompt. Available: {', '.join(table_or_batch.columns)}."
        )
    return table_to_batch(table_or_batch, column=column, template=template, source=filename, limits=limits)


def read_input(data: bytes | str, *, filename: str = "pasted text", limits: Limits = Limits()) -> Table | BatchInput:
    """First step for an upload: a `Table` (CSV/JSONL, a prompt column still to pick) or a
    finished `BatchInput` (plain text).

    Raises:
        BatchInputError: size, encoding, or format problems.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    check_size(len(raw), limits)
    if not raw.strip():
        raise BatchInputError(
            "The file is empty." if filename != "pasted text" else "Paste at least one prompt, one per line."
        )
    decoded = decode_bytes(raw) if isinstance(data, bytes) else Decoded(data, "utf-8")
    text, removed = remove_control_chars(decoded.text)
    note = " ".join(n for n in (decoded.note, removed) if n) or None
    kind = kind_for_filename(filename)
    if kind is InputKind.TEXT:
        return lines_to_batch(text, source=filename, note=note, limits=limits)
    return parse_table(text, kind, note=note)


def suggest_column(columns: Sequence[str]) -> str:
    """The column most likely to hold the prompt: a well-known name, else the last column.

    Example:
        >>> suggest_column(["id", "Question", "topic"])
        'Question'
    """
    for wanted in ("prompt", "question", "input", "text", "query", "instruction"):
        for name in columns:
            if name.strip().lower() == wanted:
                return name
    return columns[-1]


def _quote_list(names: Sequence[str]) -> str:
    quoted = [f"{{{n}}}" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB".replace(".0 KB", " KB")
    return f"{n} bytes"
