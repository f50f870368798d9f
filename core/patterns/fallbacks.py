"""Fallbacks: when the primary endpoint fails, `with_fallbacks` asks the next model instead.

`primary.with_fallbacks([fallback])` is a runnable of its own (`RunnableWithFallbacks`): it
calls the primary, and on an exception (any, by default) calls the fallback with the same
input. In `astream_events` each model is its own run under the fallbacks run, so the failed
attempt and the answer that replaced it are both visible. The answer's `response_metadata`
says which model produced it.

Turn the primary's own retries off (`max_retries=0`) or it retries before giving up, and the
fallback waits for all of that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from core.call.models import Endpoint
from core.patterns.events import RecordedEvent

PRIMARY_RUN = "primary"
FALLBACK_RUN = "fallback"


def fallback_problem(primary: Endpoint, fallback: Endpoint) -> str | None:
    """Why this fallback would not help, in plain words; None when it is a real alternative.

    The same base URL and model, with no simulated fault on the primary, would fail the same
    way: asking it again is a retry, not a fallback.

    Example:
        >>> from pydantic import SecretStr
        >>> from core.settings import Provider
        >>> e = Endpoint(Provider.LOCAL, "http://127.0.0.1:5/v1", "m", SecretStr("k"), "K")
        >>> fallback_problem(e, e)[:44]
        'The fallback is the same endpoint as the pri'
    """
    same = (
        primary.base_url.rstrip("/") == fallback.base_url.rstrip("/")
        and primary.model == fallback.model
    )
    if same:
        return (
            "The fallback is the same endpoint as the primary (same URL and model): whatever "
            "failed would fail again. Make the primary fail on purpose (all errors, or a wrong "
            "base URL), or choose another provider in the sidebar."
        )
    return None


def with_fallback(primary: BaseChatModel, fallback: BaseChatModel) -> Runnable:
    """`primary.with_fallbacks([fallback])`, each model named for the events and the ledger."""
    return primary.with_config(run_name=PRIMARY_RUN).with_fallbacks(
        [fallback.with_config(run_name=FALLBACK_RUN)]
    )


@dataclass(frozen=True)
class FallbackOutcome:
    """What happened, read from the recorded events.

    Attributes:
        answered_by: the run that produced the answer ("primary", "fallback") or None.
        model_name: the model the answer's metadata names, or None.
        primary_failed: the primary's run started and never ended (v2 has no model-error event).
        text: the answer.
    """

    answered_by: str | None
    model_name: str | None
    primary_failed: bool
    text: str


def read_outcome(events: Iterable[RecordedEvent]) -> FallbackOutcome:
    """Which model answered, from `astream_events` v2 events of a `with_fallback` run."""
    started: dict[str, str] = {}
    ended: set[str] = set()
    answered_by = model_name = None
    text = ""
    for e in events:
        if e.event == "on_chat_model_start":
            started[e.run_id] = e.name
        elif e.event == "on_chat_model_end":
            ended.add(e.run_id)
            answered_by = e.name
            output = (e.data or {}).get("output")
            meta = getattr(output, "response_metadata", None) or {}
            model_name = meta.get("model_name") or model_name
            content = getattr(output, "content", "")
            text = content if isinstance(content, str) else str(content)
    primary_failed = any(
        name == PRIMARY_RUN and run_id not in ended for run_id, name in started.items()
    )
    return FallbackOutcome(answered_by, model_name, primary_failed, text)
