"""Token usage as LangChain reports it, with "not reported" kept distinct from zero."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, from LangChain's `usage_metadata`.

    Attributes:
        input_tokens: prompt tokens, cached ones included.
        output_tokens: completion tokens, reasoning ones included.
        total_tokens: as reported (normally input + output).
        input_details: e.g. ``{"cache_read": 24}``; service-tier prefixed keys kept as they are.
        output_details: e.g. ``{"reasoning": 10}``.
    """

    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_details: dict[str, int] = field(default_factory=dict)
    output_details: dict[str, int] = field(default_factory=dict)

    @property
    def cached_input_tokens(self) -> int:
        """Cached input tokens (a subset of `input_tokens`), on any service tier.

        Example:
            >>> Usage(100, 5, 105, {"priority_cache_read": 60, "priority": 40}).cached_input_tokens
            60
        """
        return _tiered(self.input_details, "cache_read")

    @property
    def reasoning_tokens(self) -> int:
        """Reasoning tokens (a subset of `output_tokens`), on any service tier."""
        return _tiered(self.output_details, "reasoning")

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> Usage | None:
        """Build from a message's `usage_metadata`; None when the endpoint reported none.

        Example:
            >>> Usage.from_metadata({"input_tokens": 3, "output_tokens": 5, "total_tokens": 8})
            Usage(input_tokens=3, output_tokens=5, total_tokens=8, input_details={}, output_details={})
            >>> Usage.from_metadata(None) is None
            True
        """
        if not metadata:
            return None
        input_tokens = int(metadata.get("input_tokens") or 0)
        output_tokens = int(metadata.get("output_tokens") or 0)
        total = metadata.get("total_tokens")
        return cls(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=int(total) if total is not None else input_tokens + output_tokens,
            input_details=_ints(metadata.get("input_token_details")),
            output_details=_ints(metadata.get("output_token_details")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "input_token_details": dict(self.input_details),
            "output_token_details": dict(self.output_details),
        }


def _tiered(details: Mapping[str, int], name: str) -> int:
    # langchain-openai names the detail "priority_cache_read" / "flex_reasoning" on those
    # service tiers and plain "cache_read" / "reasoning" otherwise; one call has one of them.
    for key in (name, f"priority_{name}", f"flex_{name}"):
        if details.get(key):
            return int(details[key])
    return 0


def _ints(details: Any) -> dict[str, int]:
    if not isinstance(details, Mapping):
        return {}
    return {str(k): int(v) for k, v in details.items() if isinstance(v, (int, float))}
