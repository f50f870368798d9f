"""One call trace → the GenAI span attributes, its status, its marks as events.

Pure functions of a `CallTrace` (no SDK import): `call_attributes` gives only the figures the
call measured (a usage the endpoint did not report is absent, never 0), `status_of` says whether
the span is an error, `mark_events` lists the marks with their own moments. Every string passes
`core.call.errors.redact` with the call's keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.call.trace import FAILED, INCOMPLETE, CallTrace, TokenSource

AttributeValue = str | bool | int | float | Sequence[str]


#: A call tagged ``conversation:<id>`` (`conversation_tag`) is a turn of that conversation.
CONVERSATION_TAG = "conversation:"


def conversation_tag(conversation_id: str) -> str:
    """The LangChain tag that files a call under a conversation (``gen_ai.conversation.id``).

    Example:
        >>> conversation_tag("3f2a9c1d")
        'conversation:3f2a9c1d'
    """
    return f"{CONVERSATION_TAG}{conversation_id}"


def provider_name(trace: CallTrace) -> str:
    """``gen_ai.provider.name``: ``openai`` for OpenAI, the serving software otherwise.

    The conventions' list has no value for a local llama.cpp or an unnamed OpenAI-compatible
    server, and allow a custom one; the lab's labels become ``llama.cpp`` and
    ``openai_compatible``.

    Example:
        >>> provider_name(CallTrace("r", provider="OpenAI")), provider_name(CallTrace("r", provider="Local (embedded SmolLM2)"))
        ('openai', 'llama.cpp')
    """
    label = trace.provider.lower()
    if label == "openai":
        return "openai"
    if label.startswith("local"):
        return "llama.cpp"
    return "openai_compatible"


def ns(seconds: float) -> int:
    return int(seconds * 1e9)


def call_attributes(
    trace: CallTrace,
    secrets: Sequence[str] = (),
    prompt: Sequence[tuple[str, str]] | None = None,
    *,
    capture_content: bool = False,
) -> dict[str, AttributeValue]:
    """The GenAI (and ``lab.*``) attributes of one call's span; only the figures measured.

    A figure the call did not report is absent, never 0. Prompt and answer text appear only
    with `capture_content`; every string passes `redact` with `secrets`.

    Example:
        >>> from core.call.trace import Outcome, StreamChunk
        >>> from core.call.usage import Usage
        >>> t = CallTrace("r", provider="OpenAI", model_requested="gpt-4o-mini", origin=0.0,
        ...               finished=1.0, streamed=True, chunks=[StreamChunk(0.2, "Hi")],
        ...               outcome=Outcome("complete", "Hi", Usage(9, 1, 10), "stop", "gpt-4o-mini-2024"))
        >>> a = call_attributes(t)
        >>> a["gen_ai.operation.name"], a["gen_ai.usage.output_tokens"], a["gen_ai.response.finish_reasons"]
        ('chat', 1, ('stop',))
        >>> "gen_ai.output.messages" in a, "gen_ai.output.messages" in call_attributes(t, capture_content=True)
        (False, True)
    """
    from core.call.errors import redact

    def clean(text: str) -> str:
        return redact(text, *secrets)

    outcome = trace.outcome
    figures = trace  # its figures are its own properties
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(trace),
        "gen_ai.request.model": clean(trace.model_requested or "unknown"),
        "lab.pattern": trace.pattern,
        "lab.provider": clean(trace.provider),
        "lab.status": trace.status,
    }
    if trace.streamed:
        attrs["gen_ai.request.stream"] = True
        if trace.first_chunk is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = trace.first_chunk - trace.origin
    if outcome is not None:
        if outcome.model:
            attrs["gen_ai.response.model"] = clean(outcome.model)
        if outcome.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = (outcome.finish_reason,)
        response_id = outcome.response_metadata.get("id")
        if isinstance(response_id, str) and response_id:
            attrs["gen_ai.response.id"] = response_id
        if outcome.usage is not None:
            attrs["gen_ai.usage.input_tokens"] = outcome.usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = outcome.usage.output_tokens
            if outcome.usage.cached_input_tokens:
                attrs["gen_ai.usage.cache_read.input_tokens"] = outcome.usage.cached_input_tokens
            if outcome.usage.reasoning_tokens:
                attrs["gen_ai.usage.reasoning.output_tokens"] = outcome.usage.reasoning_tokens
        if outcome.problem is not None:
            attrs["error.type"] = outcome.problem.kind or "_OTHER"
            attrs["lab.problem"] = clean(outcome.problem.as_text())
    for name, value in (("lab.ttft_s", figures.ttft_s), ("lab.e2e_s", figures.e2e_s),
                        ("lab.tpot_s", figures.tpot_s), ("lab.tokens_per_s", figures.output_tokens_per_s)):
        if value is not None:
            attrs[name] = value
    if figures.token_source is not None and figures.output_tokens is not None:
        attrs["lab.output_tokens"] = figures.output_tokens
        attrs["lab.output_tokens_counted_from"] = (
            "usage" if figures.token_source is TokenSource.USAGE else "text chunks")
    attrs["lab.retries"] = trace.retries
    attempt = trace.attempt
    if attempt is not None and attempt.host:
        # The address the client reached: behind the lab's proxy that is the proxy (lab.proxy.*
        # says so); the conventions prefer the server behind it, which the trace does not hold.
        attrs["server.address"] = attempt.host
        if attempt.port:
            attrs["server.port"] = attempt.port
    if attempt is not None and attempt.status is not None:
        attrs["http.response.status_code"] = attempt.status
    if trace.server is not None:
        attrs["lab.server.source"] = trace.server.source
        for name in ("prompt_tokens", "prompt_ms", "cached_tokens", "predicted_tokens", "predicted_ms", "processing_ms"):
            value = getattr(trace.server, name)
            if value is not None:
                attrs[f"lab.server.{name}"] = value
    if trace.proxy is not None:
        attrs["lab.proxy.held_ms"] = trace.proxy.held_ms
        attrs["lab.proxy.queued_ms"] = trace.proxy.queued_ms
        if trace.proxy.refused:
            attrs["lab.proxy.refused"] = trace.proxy.refused
    if trace.tags:
        attrs["lab.tags"] = tuple(clean(tag) for tag in trace.tags)
        conversation = next((t[len(CONVERSATION_TAG):] for t in trace.tags if t.startswith(CONVERSATION_TAG)), None)
        if conversation:
            attrs["gen_ai.conversation.id"] = clean(conversation)
    if capture_content:
        if prompt:
            attrs["gen_ai.input.messages"] = json.dumps(
                [{"role": _ROLES.get(role, role), "parts": [{"type": "text", "content": clean(text)}]}
                 for role, text in prompt], ensure_ascii=False)
        if outcome is not None:
            message: dict[str, Any] = {"role": "assistant",
                                       "parts": [{"type": "text", "content": clean(outcome.text)}]}
            if outcome.finish_reason:
                message["finish_reason"] = outcome.finish_reason
            attrs["gen_ai.output.messages"] = json.dumps([message], ensure_ascii=False)
    return attrs


# LangChain's message types → the conventions' roles.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def status_of(trace: CallTrace, secrets: Sequence[str] = ()) -> tuple[bool, str | None]:
    """(is an error, its description): failed, incomplete and malformed calls are errors.

    Example:
        >>> from core.call.trace import Outcome
        >>> status_of(CallTrace("r", outcome=Outcome("complete")))
        (False, None)
        >>> status_of(CallTrace("r", outcome=Outcome("incomplete")))
        (True, 'incomplete: the stream ended without a finish reason')
    """
    from core.call.errors import redact

    outcome = trace.outcome
    if outcome is None or (outcome.status not in (FAILED, INCOMPLETE) and outcome.problem is None):
        return False, None
    if outcome.problem is not None:
        return True, redact(f"{outcome.status}: {outcome.problem.title}", *secrets)
    return True, f"{outcome.status}: the stream ended without a finish reason"


def mark_events(trace: CallTrace) -> list[tuple[str, int, dict[str, str]]]:
    """Every mark of the call as (name, time in ns since the epoch, attributes), in order.

    Example:
        >>> t = CallTrace("r", origin=10.0, started_wall=1000.0, lc_start=10.001, lc_end=10.5)
        >>> [(name, ns) for name, ns, _ in mark_events(t)][:2]
        [('call began', 1000000000000), ('model run started', 1000001000000)]
    """
    return [(name, ns(trace.started_wall + at), {"lab.layer": layer}) for layer, name, at in trace.marks()]

