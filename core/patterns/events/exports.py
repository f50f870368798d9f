"""Exports of a recorded run: JSON Lines (every field, secrets redacted) and CSV (the log's columns)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from core.patterns.events.recorded import RecordedEvent
from core.security.untrusted import csv_text


def events_jsonl(events: Iterable[RecordedEvent], secrets: tuple[str, ...] = ()) -> str:
    """Every event, one JSON object per line, with `secrets` redacted from its data.

    Example:
        >>> e = RecordedEvent(0, 0.5, "on_chain_start", "seq", "r1", (), (), "", data={})
        >>> events_jsonl([e]).count("\\n"), '"at_ms": 500.0' in events_jsonl([e])
        (1, True)
    """
    return "".join(json.dumps(e.to_dict(*secrets), ensure_ascii=False) + "\n" for e in events)


def events_csv(events: Iterable[RecordedEvent]) -> str:
    """Every event as CSV: the log's columns plus full ids and tags.

    Example:
        >>> e = RecordedEvent(0, 0.5, "on_chain_start", "seq", "r1", (), (), "", data={})
        >>> events_csv([e]).splitlines()[1]
        '0,500.000,on_chain_start,seq,r1,,,'
    """
    return csv_text(
        ["index", "at_ms", "event", "name", "run_id", "parent_id", "tags", "summary"],
        ([e.index, f"{e.at_s * 1000:.3f}", e.event, e.name, e.run_id, e.parent_id or "",
          ";".join(e.tags), e.summary] for e in events),
    )
