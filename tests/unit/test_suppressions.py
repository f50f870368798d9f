"""Every silenced check says why, beside it.

`ruff check` (RUF100) reports a `noqa` whose rule no longer fires and mypy (warn_unused_ignores)
an ignore that is no longer needed; this test makes sure each one still standing carries its
reason: `# noqa: E402 - after the sys.path line` and
`# type: ignore[operator]  # start() has just set it`. Comments are read with `tokenize`, so a
string that merely contains the words is not a suppression.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app.py", "core", "components", "pages", "tests", "bench")

NOQA = re.compile(r"#\s*noqa\b", re.IGNORECASE)
NOQA_WITH_REASON = re.compile(r"#\s*noqa:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*\s+-\s+\S")
TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore\b")
TYPE_IGNORE_WITH_REASON = re.compile(r"#\s*type:\s*ignore\[[a-z0-9, -]+\]\s+#\s*\S")


def unexplained(source: str) -> list[tuple[int, str]]:
    """(line, comment) for each `noqa` / `type: ignore` comment without codes and a reason.

    Example:
        >>> unexplained("x = 1  # noqa: E731\\ny = 2  # noqa: E731 - a key function\\ns = '# noqa'\\n")
        [(1, '# noqa: E731')]
        >>> unexplained("z = f()  # type: ignore[arg-type]\\nw = g()  # type: ignore[arg-type]  # typed too narrowly\\n")
        [(1, '# type: ignore[arg-type]')]
    """
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        # A line's comment token holds the whole rest of the line, reason included.
        if not _says_why(token.string):
            found.append((token.start[0], token.string))
    return found


def _says_why(comment: str) -> bool:
    if NOQA.search(comment):
        return bool(NOQA_WITH_REASON.search(comment))
    if TYPE_IGNORE.search(comment):
        return bool(TYPE_IGNORE_WITH_REASON.search(comment))
    return True  # not a suppression


def test_every_noqa_and_type_ignore_in_the_project_says_why() -> None:
    missing = []
    for name in SOURCES:
        path = PROJECT_ROOT / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            missing += [f"{file.relative_to(PROJECT_ROOT)}:{line}: {text}" for line, text in unexplained(file.read_text())]
    assert missing == []
