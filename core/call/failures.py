"""Many failed calls, told in one line: grouped by cause, each cause with what to do.

A batch of 200 rows that all hit a wrong key should not read "done" with 200 red rows below
it; it should say "200 rows failed: wrong or missing API key (HTTP 401) × 200 — check the key
in the sidebar". The Batch page (jobs and sweep levels), the Async page and the Compare page
all summarise their failures through `summarize_failures` and `failure_line`, and name the
outcome of a run with `outcome_label`.

Input is anything shaped like a `core.call.errors.CallProblem` (``kind``, ``title``, ``fix``); a
batch row stored in SQLite is turned back into one with `problem_from_stored`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from core.call.errors import CallProblem

#: What to do, in a few words, for the causes `core.call.errors.explain_error` names. The full fix
#: stays with each call; this is the one-line version. Kinds not listed use the first sentence
#: of the call's own fix.
SHORT_FIXES: dict[str, str] = {
    "auth": "check the key in the sidebar",
    "forbidden": "check that this key may use the model",
    "not_found": "check the model name and the base URL in the sidebar",
    "rate_limit": "lower the concurrency, or raise max retries in the sidebar",
    "bad_request": "check the prompt length and max tokens against the model's limits",
    "server_error": "a fault on the endpoint's side: run them again",
    "timeout": "raise the timeout in the sidebar's Generation settings",
    "stream_cut": "the connection dropped: run them again",
    "connection": "check the base URL and that the server is running",
    "embedded_unavailable": "the embedded model did not start: see the message above",
    "event_loop": "give each asyncio.run its own HTTP client",
}
GENERIC_FIX = "see each one's error for details"

_RETRIES_SUFFIX = re.compile(r" after \d+ retr(?:y|ies)$")


class ProblemLike(Protocol):
    """What a summary needs of one failure (a `CallProblem` has it)."""

    @property
    def kind(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def fix(self) -> str: ...


@dataclass(frozen=True)
class FailureGroup:
    """Failures that share one cause.

    Attributes:
        kind: the cause's stable identifier ("auth", "timeout", ...).
        title: the cause in words, without the per-call retry count
            ("Wrong or missing API key (HTTP 401)").
        fix: what to do, in a few words.
        count: how many failures have this cause.
    """

    kind: str
    title: str
    fix: str
    count: int

    def as_text(self) -> str:
        """'wrong or missing API key (HTTP 401) × 12 — check the key in the sidebar'."""
        return f"{_lower_first(self.title)} × {self.count:,} — {self.fix}"


def summarize_failures(problems: Iterable[ProblemLike | None]) -> list[FailureGroup]:
    """Group failures by cause, the most frequent first (ties: the cause seen first).

    `None` entries (calls that succeeded) are skipped, so a list of every call's error can be
    passed as it is. Titles that differ only in the retries made ("… after 2 retries") are one
    cause.

    Example:
        >>> auth = CallProblem("auth", "Wrong or missing API key (HTTP 401)", "bad key", "Check the key.")
        >>> slow = CallProblem("timeout", "Timed out after 2 retries", "read timed out", "Raise it.")
        >>> groups = summarize_failures([slow, auth, None, auth])
        >>> [(g.kind, g.count) for g in groups]
        [('auth', 2), ('timeout', 1)]
        >>> groups[1].title, groups[1].fix
        ('Timed out', "raise the timeout in the sidebar's Generation settings")
    """
    order: list[tuple[str, str]] = []
    counts: dict[tuple[str, str], int] = {}
    fixes: dict[tuple[str, str], str] = {}
    for problem in problems:
        if problem is None:
            continue
        key = (problem.kind, _RETRIES_SUFFIX.sub("", problem.title.strip()))
        if key not in counts:
            order.append(key)
            counts[key] = 0
            fixes[key] = SHORT_FIXES.get(problem.kind) or _first_sentence(problem.fix) or GENERIC_FIX
        counts[key] += 1
    ranked = sorted(order, key=lambda k: (-counts[k], order.index(k)))
    return [FailureGroup(kind, title, fixes[(kind, title)], counts[(kind, title)]) for kind, title in ranked]


def failure_line(groups: Iterable[FailureGroup], *, total: int | None = None, noun: str = "row") -> str:
    """One line for the top of a result: how many failed, each cause × its count — its fix.

    `total` (when given and larger) adds "of N"; `noun` names what failed ("row", "call").
    An empty list gives an empty string (nothing failed, nothing to say).

    Example:
        >>> auth = FailureGroup("auth", "Wrong or missing API key (HTTP 401)", "check the key in the sidebar", 12)
        >>> failure_line([auth])
        '12 rows failed: wrong or missing API key (HTTP 401) × 12 — check the key in the sidebar.'
        >>> failure_line([FailureGroup("timeout", "Timed out", "raise the timeout", 1)], total=5, noun="call")
        '1 of 5 calls failed: timed out × 1 — raise the timeout.'
    """
    groups = list(groups)
    failed = sum(g.count for g in groups)
    if not failed:
        return ""
    plural = noun if failed == 1 and not (total and total > 1) else noun + "s"
    of = f" of {total:,}" if total is not None and total > failed else ""
    return f"{failed:,}{of} {plural} failed: " + "; ".join(g.as_text() for g in groups) + "."


def outcome_label(succeeded: int, failed: int) -> str:
    """How a finished run went: "done", "finished with failures", or "failed" (none succeeded).

    Example:
        >>> outcome_label(12, 0), outcome_label(9, 3), outcome_label(0, 12)
        ('done', 'finished with failures', 'failed')
    """
    if failed <= 0:
        return "done"
    return "failed" if succeeded <= 0 else "finished with failures"


def problem_from_stored(kind: str | None, error: str | None, fix: str | None = None) -> CallProblem:
    """A failure kept as text (a batch row's ``error_kind`` and ``"title: detail"``) as a problem.

    Example:
        >>> p = problem_from_stored("timeout", "Timed out: read timed out")
        >>> p.kind, p.title, p.detail
        ('timeout', 'Timed out', 'read timed out')
    """
    title, _, detail = (error or "").partition(": ")
    return CallProblem(
        kind=kind or "unexpected", title=title.strip() or "Failed", detail=detail.strip(), fix=fix or ""
    )


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].rstrip(".")
    return _lower_first(sentence)


def _lower_first(text: str) -> str:
    # "Timed out" → "timed out" inside a sentence; "HTTP 500 …" and "API …" keep their capitals.
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text
