"""Spans for the timeline: one per run, from its first event to its end, in tree order."""

from __future__ import annotations

from collections.abc import (
    Iterable,
)
from dataclasses import dataclass, field

from core.patterns.events.recorded import RecordedEvent


@dataclass
class RunSpan:
    """One run from its first event to its end event, for a waterfall timeline.

    Attributes:
        parent_id: the nearest ancestor that is itself a span (None for a root).
        depth: nesting level among the spans shown (0 for a root).
        end_s: when it ended; None when it never did (an error or an interrupted run).
        ticks_s: when each of its stream chunks arrived.
        custom: (time, name) of custom events it sent.
        failed: it reported an error, or the run's error was traced to it.
    """

    run_id: str
    name: str
    run_type: str
    parent_id: str | None
    start_s: float
    end_s: float | None = None
    depth: int = 0
    ticks_s: list[float] = field(default_factory=list)
    custom: list[tuple[float, str]] = field(default_factory=list)
    failed: bool = False

    @property
    def finished(self) -> bool:
        return self.end_s is not None

    def duration_s(self, until_s: float | None = None) -> float:
        """Length of the span; an unfinished one lasts until `until_s` (or its last event)."""
        end = self.end_s if self.end_s is not None else until_s
        if end is None:
            end = max([self.start_s, *self.ticks_s, *(t for t, _ in self.custom)])
        return max(0.0, end - self.start_s)


def derive_spans(
    events: Iterable[RecordedEvent],
    *,
    until_s: float | None = None,
    failed_run_id: str | None = None,
) -> list[RunSpan]:
    """Per-run spans in waterfall order: each parent followed by its children by start time.

    A run's parent is the nearest of its `parent_ids` that has a span here, so a filtered event
    list still nests sensibly. Runs whose end never came (an error) stay unfinished.

    Example:
        >>> def ev(i, t, kind, name, rid, parents=()):
        ...     return RecordedEvent(i, t, kind, name, rid, tuple(parents), (), "", {})
        >>> spans = derive_spans([
        ...     ev(0, 0.00, "on_chain_start", "seq", "a"),
        ...     ev(1, 0.01, "on_chat_model_start", "llm", "b", ["a"]),
        ...     ev(2, 0.05, "on_chat_model_stream", "llm", "b", ["a"]),
        ...     ev(3, 0.09, "on_chat_model_end", "llm", "b", ["a"]),
        ...     ev(4, 0.10, "on_chain_end", "seq", "a"),
        ... ])
        >>> [(s.name, s.depth, s.parent_id, s.ticks_s) for s in spans]
        [('seq', 0, None, []), ('llm', 1, 'a', [0.05])]
        >>> round(spans[1].duration_s(), 2)
        0.08
    """
    spans: dict[str, RunSpan] = {}
    ancestry: dict[str, tuple[str, ...]] = {}
    for e in events:
        span = spans.get(e.run_id)
        if span is None:
            span = spans[e.run_id] = RunSpan(
                run_id=e.run_id,
                name=e.name,
                run_type=e.run_type if e.phase != "custom" else "chain",
                parent_id=None,
                start_s=e.at_s,
            )
            ancestry[e.run_id] = e.parent_ids
        phase = e.phase
        if phase == "start":
            span.name, span.run_type = e.name, e.run_type
        elif phase == "stream":
            span.ticks_s.append(e.at_s)
        elif phase == "end":
            span.end_s = e.at_s
        elif phase == "error":
            span.end_s, span.failed = e.at_s, True
        elif phase == "custom":
            span.custom.append((e.at_s, e.name))
    for run_id, span in spans.items():
        span.parent_id = next((p for p in reversed(ancestry[run_id]) if p in spans), None)
        if run_id == failed_run_id:
            span.failed = True
    children: dict[str | None, list[RunSpan]] = {}
    for span in spans.values():
        children.setdefault(span.parent_id, []).append(span)
    ordered: list[RunSpan] = []

    def visit(parent: str | None, depth: int) -> None:
        for child in sorted(children.get(parent, []), key=lambda s: s.start_s):
            child.depth = depth
            ordered.append(child)
            visit(child.run_id, depth + 1)

    visit(None, 0)
    return ordered
