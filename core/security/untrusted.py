"""Untrusted text leaving the lab: into Markdown on a page, and into CSV files.

Model names, endpoint strings, file names, recordings and model answers are text someone else
chose. Two places would otherwise read them as instructions:

* **Markdown** (Streamlit's `st.markdown`, captions, alerts): `![](https://…)` would load a remote
  image in every viewer's browser, and a backtick would end a code span early.
  `escape_markdown` makes text print as itself; `code_span` quotes it in a code span that no
  backtick inside can close.
* **Spreadsheets**: a CSV cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is
  run as a formula when the file is opened (OWASP, "CSV Injection"). `csv_cell` prefixes such a
  cell with `'`, so it shows as the text it is; `csv_text` writes every export through it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

# Characters that start inline Markdown anywhere: emphasis, code, links and images, raw HTML,
# tables, strikethrough, LaTeX ("$…$") and entities. CommonMark lets a backslash escape any
# ASCII punctuation, and an escaped character renders as itself.
_INLINE = re.compile(r"([\\`*{}\[\]()#+!<>|~$&])")
# "_" makes emphasis only at a word's edge: OPENAI_API_KEY stays as it is written.
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# Streamlit's own directives (":red[…]", ":material/icon:", emoji ":smile:") and autolinks
# ("https://…"): a colon right before a letter or a slash.
_COLON = re.compile(r":(?=[A-Za-z/])")
# Block markers that count only at the start of a line: lists ("- ", "1. "), setext underlines.
_LIST_DASH = re.compile(r"(?m)^(\s*)([-=])")
_LIST_NUMBER = re.compile(r"(?m)^(\s*\d+)([.)])")


def _escape(text: str) -> str:
    text = _INLINE.sub(r"\\\1", text)
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _COLON.sub(r"\\:", text)
    text = _LIST_DASH.sub(r"\1\\\2", text)
    return _LIST_NUMBER.sub(r"\1\\\2", text)


def escape_markdown(text: str) -> str:
    """`text` with its Markdown characters escaped, so it renders as the same characters.

    Newlines become spaces: a line break could start a heading or a list in the middle of a
    sentence.

    Example:
        >>> escape_markdown("![x](https://evil.example/t.png)")
        '\\\\!\\\\[x\\\\]\\\\(https\\\\://evil.example/t.png\\\\)'
        >>> escape_markdown("Replay: gpt-4o `mini`, 12.5 s")
        'Replay: gpt-4o \\\\`mini\\\\`, 12.5 s'
    """
    return _escape(" ".join(str(text).splitlines()))


def answer_markdown(text: str) -> str:
    """A model's answer (or a recorded one) for `st.markdown` / `st.write_stream`, shown as the
    characters it holds: Markdown characters escaped, each line break kept as a hard break.

    A stream may be escaped chunk by chunk (`answer_chunks`): inline characters are escaped one
    by one, so a `![` split across two chunks is escaped all the same, and the start of a chunk
    counts as the start of a line (at worst a dash is escaped that needed none).

    Example:
        >>> answer_markdown("Look: ![x](https://evil.example/p.png)")
        'Look: \\\\!\\\\[x\\\\]\\\\(https\\\\://evil.example/p.png\\\\)'
        >>> answer_markdown("line one" + chr(10) + "- two") == "line one  " + chr(10) + "\\\\- two"
        True
    """
    return _escape(str(text).replace("\r\n", "\n")).replace("\n", "  \n")


def answer_chunks(chunks: Iterable[str]) -> Iterator[str]:
    """`answer_markdown` applied to each chunk of a stream, for `st.write_stream`."""
    for chunk in chunks:
        yield answer_markdown(chunk)


def code_span(text: str) -> str:
    """`text` as a Markdown code span that holds whatever backticks it contains.

    The fence is one backtick longer than the longest run inside (CommonMark), padded with a
    space when the text starts or ends with a backtick.

    Example:
        >>> code_span("plain")
        '`plain`'
        >>> code_span("a ` b")
        '`` a ` b ``'
    """
    text = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# A cell a spreadsheet would run as a formula (OWASP's list, with the tab and carriage return).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """A cell safe to open in a spreadsheet: text that would start a formula gets a leading `'`.

    Numbers (and text that is just a number, such as "-0.5") are kept as they are, so figures
    stay figures; None becomes an empty cell.

    Example:
        >>> csv_cell('=HYPERLINK("https://evil.example","click")')
        '\\'=HYPERLINK("https://evil.example","click")'
        >>> csv_cell("-0.25"), csv_cell(-3), csv_cell(None), csv_cell("@SUM(A1)")
        ('-0.25', -3, '', "'@SUM(A1)")
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(
    columns: Sequence[str],
    rows: Iterable[Sequence[object] | Mapping[str, object]],
    *,
    line_end: str = "\r\n",
) -> str:
    """CSV text: a header of `columns`, then one line per row, every cell through `csv_cell`.

    A row is a sequence in column order or a mapping by column name (missing names are empty).

    Example:
        >>> csv_text(["prompt", "answer"], [{"prompt": "hi", "answer": "=1+1"}], line_end="\\n")
        "prompt,answer\\nhi,'=1+1\\n"
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(columns)
    for row in rows:
        cells = [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row)
        writer.writerow([csv_cell(cell) for cell in cells])
    return out.getvalue()
