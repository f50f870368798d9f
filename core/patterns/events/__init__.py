"""Streaming events: chains to watch, a recorder for `astream_events(version="v2")`, and views of it.

`astream_events` reports everything that happens inside a chain — each step starting, streaming
and ending — as plain dicts. They carry no timestamps, so `EventRecorder` stamps each one the
moment it is received, keeps every one (a screen may redraw less often; the record never skips),
and derives what a person wants to see: one span per run for a waterfall timeline, counts per
event type, readable one-line summaries, and JSON Lines / CSV exports.

One concept per module (import from the package; the modules are where each lives):

- `chains` — the chains the page offers (`CHAINS`, `build_chain`, the answer-stats tool).
- `stream` — `stream_events`: the async iterator stepped from synchronous code.
- `recorded` — `RecordedEvent`, one event stamped on receipt, and its run type / phase.
- `recorder` — `EventRecorder`: every event of a run, its error and the step it came from.
- `filters` — `EventFilter`, the include_* / exclude_* rules applied to recorded events.
- `spans` — `RunSpan` and `derive_spans`, one span per run for the timeline.
- `summaries` — one readable line per event, and JSON-safe data with secrets redacted.
- `exports` — JSON Lines and CSV of a run.
- `run_record` — `EventsRun`, what the page keeps of one run to redraw it.
"""

from core.patterns.events.chains import (
    CHAINS,
    HAIKU_PROMPT,
    JOKE_PROMPT,
    TAKES,
    ChainSpec,
    build_chain,
    joke_chain,
    joke_with_tool_chain,
    make_answer_stats_tool,
    parallel_chain,
    progress_chain,
)
from core.patterns.events.exports import events_csv, events_jsonl
from core.patterns.events.filters import EventFilter
from core.patterns.events.recorded import RecordedEvent, phase_of, run_type_of, short_id
from core.patterns.events.recorder import Clock, EventRecorder
from core.patterns.events.run_record import EventsRun
from core.patterns.events.spans import RunSpan, derive_spans
from core.patterns.events.stream import fresh_async_http_client, stream_events
from core.patterns.events.summaries import SUMMARY_CHARS, chunk_text, jsonable, summarize

__all__ = [
    "CHAINS",
    "HAIKU_PROMPT",
    "JOKE_PROMPT",
    "SUMMARY_CHARS",
    "TAKES",
    "ChainSpec",
    "Clock",
    "EventFilter",
    "EventRecorder",
    "EventsRun",
    "RecordedEvent",
    "RunSpan",
    "build_chain",
    "chunk_text",
    "derive_spans",
    "events_csv",
    "events_jsonl",
    "fresh_async_http_client",
    "joke_chain",
    "joke_with_tool_chain",
    "jsonable",
    "make_answer_stats_tool",
    "parallel_chain",
    "phase_of",
    "progress_chain",
    "run_type_of",
    "short_id",
    "stream_events",
    "summarize",
]
