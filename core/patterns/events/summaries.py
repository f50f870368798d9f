"""Readable one-line summaries of event data, and a JSON-safe copy of it with secrets redacted."""

from __future__ import annotations

from collections.abc import (
    Mapping,
)
from typing import Any
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

from core.call.errors import redact, redact_error
from core.call.tracing import message_text

SUMMARY_CHARS = 140


def summarize(event: str, data: Any, secrets: tuple[str, ...] = ()) -> str:
    """One readable line about an event's `data`: what went in, the chunk, or what came out.

    Example:
        >>> summarize("on_chain_start", {"input": {"topic": "cats"}})
        'in: topic=“cats”'
        >>> from langchain_core.messages import AIMessageChunk
        >>> summarize("on_chat_model_stream", {"chunk": AIMessageChunk(content="Why")})
        "'Why'"
        >>> summarize("on_tool_error", {"error": ValueError("boom")})
        'error: ValueError: boom'
    """
    if event == "on_custom_event" or not isinstance(data, Mapping):
        return _clip(_describe(data))
    if data.get("error") is not None:
        error = data["error"]
        return _clip(f"error: {type(error).__name__}: {redact_error(str(error), *secrets)}")
    if "chunk" in data:
        return _clip(_describe_chunk(data["chunk"]))
    if "output" in data:
        return _clip("out: " + _describe(data["output"]))
    if "input" in data:
        return _clip("in: " + _describe(data["input"]))
    return ""


def _clip(text: str) -> str:
    text = " ".join(text.split())  # one line: newlines from model text would break the table
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


_message_text = message_text  # the one reading of a message's text (core.call.tracing)


def chunk_text(chunk: Any) -> str:
    if isinstance(chunk, BaseMessage):
        return _message_text(chunk)
    return chunk if isinstance(chunk, str) else ""


def _usage_text(message: BaseMessage) -> str:
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return ""
    return f"usage {usage.get('input_tokens', '?')} in · {usage.get('output_tokens', '?')} out"


def _describe_chunk(chunk: Any) -> str:
    if isinstance(chunk, BaseMessage):
        text = _message_text(chunk)
        if text:
            return repr(text)
        calls = getattr(chunk, "tool_call_chunks", None)
        if calls:  # a tool call being written: its name first, then its arguments piece by piece
            return "tool call " + ", ".join(
                f"{c.get('name') + ' ' if c.get('name') else ''}args {c.get('args') or ''!r}" for c in calls)
        notes = [_usage_text(chunk)]
        finish = (chunk.response_metadata or {}).get("finish_reason")
        if finish:
            notes.append(f"finish_reason={finish}")
        notes = [n for n in notes if n]
        return "(empty chunk" + (": " + ", ".join(notes) if notes else "") + ")"
    if isinstance(chunk, str):
        return repr(chunk) if chunk else "(empty chunk)"
    return _describe(chunk)


def _quote(text: str) -> str:
    # Curly quotes: text with apostrophes stays readable (repr would escape them).
    return f"“{text}”"


def _role(message: BaseMessage) -> str:
    # AIMessageChunk.type is "AIMessageChunk"; AIMessage.type is "ai".
    return message.type.removesuffix("MessageChunk").lower()


def _describe(value: Any, depth: int = 0) -> str:
    if isinstance(value, BaseMessage):
        text = f"{_role(value)}: {_quote(_message_text(value))}"
        extras = [_usage_text(value)]
        finish = (getattr(value, "response_metadata", None) or {}).get("finish_reason")
        if finish:
            extras.append(f"finish_reason={finish}")
        extras = [x for x in extras if x]
        return text + (f" ({', '.join(extras)})" if extras else "")
    if isinstance(value, PromptValue):
        return " / ".join(_describe(m, depth + 1) for m in value.to_messages())
    if isinstance(value, Mapping):
        if set(value) == {"messages"}:  # chat model start: {"messages": [[...]]}
            batches = value["messages"]
            flat = [m for batch in batches for m in (batch if isinstance(batch, list) else [batch])]
            return " / ".join(_describe(m, depth + 1) for m in flat)
        if depth > 1:
            return "{…}"
        return ", ".join(f"{k}={_describe(v, depth + 1)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        if depth > 1:
            return "[…]"
        return "[" + ", ".join(_describe(v, depth + 1) for v in value) + "]"
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "—"
    return repr(value)


def jsonable(value: Any, secrets: tuple[str, ...] = (), _depth: int = 0) -> Any:
    """`value` as JSON-safe data: messages and prompt values dumped, errors as type + message.

    Example:
        >>> from langchain_core.messages import AIMessageChunk
        >>> jsonable({"chunk": AIMessageChunk(content="hi")})["chunk"]["content"]
        'hi'
        >>> jsonable(ValueError("bad key sk-abcdef123456"))
        {'error_type': 'ValueError', 'message': 'bad key [redacted]'}
    """
    if _depth > 20:
        return repr(value)
    if isinstance(value, str):
        return redact(value, *secrets)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, BaseException):
        return {"error_type": type(value).__name__, "message": redact_error(str(value), *secrets)}
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, secrets, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, secrets, _depth + 1) for v in value]
    if isinstance(value, BaseModel):
        try:
            dumped = value.model_dump()
        except Exception:  # some models hold values pydantic cannot dump; show them as text
            return repr(value)
        if isinstance(value, BaseMessage):
            dumped = {"type": value.type, **{k: v for k, v in dumped.items() if v not in (None, {}, [])}}
        return jsonable(dumped, secrets, _depth + 1)
    return repr(value)
