"""Filters mirroring `astream_events`' include_* / exclude_* options, applied to recorded events."""

from __future__ import annotations

from collections.abc import (
    Iterable,
    Mapping,
)
from dataclasses import dataclass
from typing import Any

from core.patterns.events.recorded import RecordedEvent, run_type_of


@dataclass(frozen=True)
class EventFilter:
    """The `include_*` / `exclude_*` options of `astream_events`, applied to recorded events.

    Same rules as langchain-core: with no include option everything is included, otherwise an
    event must match one of them; then any exclude option removes it. Types are run types
    (`chain`, `prompt`, `chat_model`, `parser`, `tool`; a custom event's type is its name).
    `None` means "option not given"; an empty tuple is turned into `None` by `from_choices`.

    Example:
        >>> f = EventFilter(include_types=("chat_model",))
        >>> f.matches({"event": "on_chat_model_end", "name": "ChatOpenAI"})
        True
        >>> f.matches({"event": "on_chain_end", "name": "RunnableSequence"})
        False
        >>> f.api_kwargs()
        {'include_types': ['chat_model']}
    """

    include_names: tuple[str, ...] | None = None
    include_types: tuple[str, ...] | None = None
    include_tags: tuple[str, ...] | None = None
    exclude_names: tuple[str, ...] | None = None
    exclude_types: tuple[str, ...] | None = None
    exclude_tags: tuple[str, ...] | None = None

    @classmethod
    def from_choices(cls, **choices: Iterable[str] | None) -> EventFilter:
        """Build from widget selections: an empty selection means the option is not given."""
        return cls(**{k: (tuple(v) if v else None) for k, v in choices.items()})

    @property
    def active(self) -> bool:
        return bool(self.api_kwargs())

    def api_kwargs(self) -> dict[str, list[str]]:
        """The options as keyword arguments for `astream_events` (only those given)."""
        return {
            name: list(value)
            for name, value in vars(self).items()
            if value is not None
        }

    def matches(self, event: RecordedEvent | Mapping[str, Any]) -> bool:
        if isinstance(event, RecordedEvent):
            kind, name, tags = event.event, event.name, event.tags
        else:
            kind, name, tags = str(event.get("event")), str(event.get("name")), tuple(event.get("tags") or ())
        run_type = run_type_of(kind, name)
        if self.include_names is None and self.include_types is None and self.include_tags is None:
            include = True
        else:
            include = (
                (self.include_names is not None and name in self.include_names)
                or (self.include_types is not None and run_type in self.include_types)
                or (self.include_tags is not None and any(t in self.include_tags for t in tags))
            )
        if self.exclude_names is not None and name in self.exclude_names:
            include = False
        if self.exclude_types is not None and run_type in self.exclude_types:
            include = False
        if self.exclude_tags is not None and any(t in self.exclude_tags for t in tags):
            include = False
        return include

    def apply(self, events: Iterable[RecordedEvent]) -> list[RecordedEvent]:
        return [e for e in events if self.matches(e)]
