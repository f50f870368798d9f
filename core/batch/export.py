"""Export a job's results as CSV or JSON Lines: every row, its usage and cost — never a key.

Errors were redacted when they were stored; the export redacts every text field again with the
session's secrets (exactly, as whole tokens: a prompt that merely looks like a token is kept), so
a key that reached a model's answer or an error message cannot leave through a download either.
Cells that a spreadsheet would run as formulas are neutralised (`core.security.untrusted.csv_text`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.batch import RowResult, RowStatus
from core.call.errors import redact
from core.security.untrusted import csv_text

COLUMNS = (
    "row",
    "line",
    "status",
    "input",
    "output",
    "latency_s",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "cost_note",
    "finish_reason",
    "model",
    "attempts",
    "error",
)


def cost_note(row: RowResult) -> str:
    """Why a row has no cost figure: "no price", "usage not reported", "not run", or ""."""
    if row.cost_usd is not None:
        return ""
    if row.status is not RowStatus.DONE:
        return "not run" if row.status in (RowStatus.QUEUED, RowStatus.CANCELLED) else "failed"
    return "no price" if row.usage_reported else "usage not reported"


def export_records(rows: Sequence[RowResult], *secrets: str) -> list[dict[str, Any]]:
    """One plain dict per row, with the columns of `COLUMNS`, text fields redacted.

    Example:
        >>> r = RowResult(job_id="j", index=0, line=2, input="2 + 2?", status=RowStatus.DONE,
        ...               output="4", input_tokens=30, output_tokens=1, total_tokens=31)
        >>> rec = export_records([r])[0]
        >>> rec["row"], rec["output"], rec["cost_usd"], rec["cost_note"]
        (1, '4', None, 'no price')
    """
    records = []
    for r in rows:
        record: dict[str, Any] = {
            "row": r.index + 1,
            "line": r.line,
            "status": r.status.value,
            "input": r.input,
            "output": r.output,
            "latency_s": None if r.latency_s is None else round(r.latency_s, 4),
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "total_tokens": r.total_tokens,
            "cost_usd": r.cost_usd,
            "cost_note": cost_note(r),
            "finish_reason": r.finish_reason,
            "model": r.model,
            "attempts": r.attempts,
            "error": r.error,
        }
        for key, value in record.items():
            if isinstance(value, str):
                record[key] = redact(value, *secrets)
        records.append(record)
    return records


def to_csv(rows: Sequence[RowResult], *secrets: str) -> str:
    """The results as CSV text (UTF-8; empty cells where a value is unknown).

    Example:
        >>> r = RowResult(job_id="j", index=0, line=1, input="hi", status=RowStatus.FAILED,
        ...               error="Timed out: read timed out")
        >>> to_csv([r]).splitlines()[1]
        '1,1,failed,hi,,,,,,,failed,,,0,Timed out: read timed out'
    """
    return csv_text(COLUMNS, export_records(rows, *secrets), line_end="\n")


def to_jsonl(rows: Sequence[RowResult], *secrets: str) -> str:
    """The results as JSON Lines, one object per row (null where a value is unknown)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in export_records(rows, *secrets))
