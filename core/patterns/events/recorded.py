"""One recorded event: what `astream_events` sent, stamped on receipt, and how to name its parts."""

from __future__ import annotations

from collections.abc import (
    Mapping,
)
from dataclasses import dataclass, field
from typing import Any

from core.patterns.events.summaries import jsonable


def short_id(run_id: str | None) -> str:
    """The last 6 characters of a run id, enough to tell runs apart on screen.

    The *last* ones: LangChain's run ids are time-ordered UUIDs (v7) whose first characters are
    the same for every run started in the same second.

    Example:
        >>> short_id("019a2b3c-0000-7000-8000-00000012ab9f")
        '12ab9f'
    """
    return run_id[-6:] if run_id else ""


def run_type_of(event: str, name: str = "") -> str:
    """The run type `astream_events`' `include_types` filter matches for an event.

    Standard events are named `on_<run type>_<phase>`; custom events are filtered by their
    own name (that is what langchain-core passes to its filter).

    Example:
        >>> run_type_of("on_chat_model_stream"), run_type_of("on_custom_event", "progress")
        ('chat_model', 'progress')
    """
    if event == "on_custom_event":
        return name
    body = event.removeprefix("on_")
    return body.rsplit("_", 1)[0] if "_" in body else body


def phase_of(event: str) -> str:
    """start, stream, end, error or custom.

    Example:
        >>> phase_of("on_tool_error"), phase_of("on_custom_event")
        ('error', 'custom')
    """
    if event == "on_custom_event":
        return "custom"
    return event.rsplit("_", 1)[-1]


@dataclass(frozen=True)
class RecordedEvent:
    """One event from `astream_events`, stamped on receipt.

    Attributes:
        index: position in the order received (0-based).
        at_s: seconds since the run began, stamped when the event was received.
        event: the event type, e.g. ``on_chat_model_stream``.
        name: the runnable's name (or the custom event's name).
        run_id: the run that emitted it.
        parent_ids: the run's ancestors, root first (v2 only).
        tags: the run's tags.
        summary: one readable line about `data` (input, chunk text or output).
        data: the event's `data`, as received (models' messages, errors, ...).
        metadata: the run's metadata.
    """

    index: int
    at_s: float
    event: str
    name: str
    run_id: str
    parent_ids: tuple[str, ...]
    tags: tuple[str, ...]
    summary: str
    data: Any = field(repr=False, compare=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def parent_id(self) -> str | None:
        """The immediate parent run, or None for the root."""
        return self.parent_ids[-1] if self.parent_ids else None

    @property
    def run_type(self) -> str:
        return run_type_of(self.event, self.name)

    @property
    def phase(self) -> str:
        return phase_of(self.event)

    def to_dict(self, *secrets: str) -> dict[str, Any]:
        """The whole event as JSON-safe data (messages dumped, errors as type and message)."""
        return {
            "index": self.index,
            "at_ms": round(self.at_s * 1000, 3),
            "event": self.event,
            "name": self.name,
            "run_id": self.run_id,
            "parent_ids": list(self.parent_ids),
            "tags": list(self.tags),
            "metadata": jsonable(self.metadata, secrets),
            "data": jsonable(self.data, secrets),
        }
