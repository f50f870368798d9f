"""A call's receipt: the readable fields of `response_metadata` and `usage_metadata`, explained.

`invoke` and `stream` fill these differently. An invoke response carries OpenAI's raw
``token_usage`` block and the response ``id`` in ``response_metadata``; a stream has neither
there — its token counts arrive only in the final chunk's ``usage_metadata``, and only when the
model was built with ``stream_usage=True`` and the endpoint honours it. Fields missing from a
response are shown as "not reported", not as zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.call.usage import Usage
from core.money.pricing import TIERS, usage_tier

NOT_REPORTED = "not reported"

FINISH_REASONS: dict[str, str] = {
    "stop": "The model finished on its own: the answer is complete.",
    "length": (
        "The answer hit the max-tokens limit and was cut off mid-way. Raise max tokens or ask "
        "for a shorter answer — the cut tokens were still generated and billed."
    ),
    "content_filter": "The provider's content filter removed or stopped the answer.",
    "tool_calls": "The model stopped to ask for a tool call instead of answering in text.",
    "function_call": "The model stopped to call a function (older API name for tool calls).",
}


def finish_reason_meaning(reason: str | None) -> str:
    """What a finish reason means for the person reading the answer.

    Example:
        >>> finish_reason_meaning("length").startswith("The answer hit the max-tokens limit")
        True
        >>> finish_reason_meaning(None)
        'The endpoint did not say why the answer ended.'
    """
    if not reason:
        return "The endpoint did not say why the answer ended."
    return FINISH_REASONS.get(reason, f"'{reason}': a provider-specific reason; see its API docs.")


@dataclass(frozen=True)
class ReceiptLine:
    """One readable field of a call's metadata.

    Attributes:
        field: the field's name as a user would say it ("input tokens").
        where: where to read it in LangChain (e.g. ``usage_metadata["input_tokens"]``).
        value: the value as text, or "not reported".
        meaning: one line on what it tells you.
    """

    field: str
    where: str
    value: str
    meaning: str

    @property
    def reported(self) -> bool:
        return self.value != NOT_REPORTED


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return NOT_REPORTED
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def receipt_lines(response_metadata: Mapping[str, Any], usage: Usage | None) -> list[ReceiptLine]:
    """The receipt's readable fields, in the order a person reads a till receipt.

    Cached and reasoning details are listed only when the response has them (whatever the
    service tier), as are the OpenAI-only ``id`` and ``token_usage``; the core fields are always
    listed, "not reported" when absent.

    Example:
        >>> lines = receipt_lines({"model_name": "m", "finish_reason": "stop"}, Usage(12, 85, 97))
        >>> [(l.field, l.value) for l in lines][:4]
        [('input tokens', '12'), ('output tokens', '85'), ('total tokens', '97'), ('model name', 'm')]
    """
    meta = dict(response_metadata or {})
    raw = meta.get("token_usage") or {}
    tier = usage_tier(usage) if usage else None
    prefix = f"{tier}_" if tier in TIERS else ""

    def tokens(attr: str) -> str:
        return _fmt(getattr(usage, attr)) if usage else NOT_REPORTED

    lines = [
        ReceiptLine(
            "input tokens", 'usage_metadata["input_tokens"]  (OpenAI: prompt_tokens)', tokens("input_tokens"),
            "Tokens in what you sent, chat template included; charged at the input price.",
        ),
        ReceiptLine(
            "output tokens", 'usage_metadata["output_tokens"]  (OpenAI: completion_tokens)',
            tokens("output_tokens"),
            "Tokens the model generated; charged at the output price, usually several times the input price.",
        ),
        ReceiptLine(
            "total tokens", 'usage_metadata["total_tokens"]', tokens("total_tokens"),
            "Input plus output: the size of the call, and what rate limits count.",
        ),
    ]
    if usage and f"{prefix}cache_read" in usage.input_details:
        lines.append(
            ReceiptLine(
                "cached input tokens", f'usage_metadata["input_token_details"]["{prefix}cache_read"]',
                _fmt(usage.cached_input_tokens),
                "Part of the input tokens that the server reused from an earlier call with the same "
                "beginning; charged at the cheaper cached price instead of the input price.",
            )
        )
    if usage and f"{prefix}reasoning" in usage.output_details:
        lines.append(
            ReceiptLine(
                "reasoning tokens", f'usage_metadata["output_token_details"]["{prefix}reasoning"]',
                _fmt(usage.reasoning_tokens),
                "Part of the output tokens spent thinking before answering: not shown, still billed as output.",
            )
        )
    if meta.get("cache_hit"):
        lines.insert(0, ReceiptLine(
            "cache hit", 'response_metadata["cache_hit"]', "yes",
            "Answered from LangChain's cache: no request was sent. The token counts are the first "
            "call's, shown for reference and not billed again.",
        ))
    lines += [
        ReceiptLine(
            "model name", 'response_metadata["model_name"]', _fmt(meta.get("model_name")),
            "The model that actually answered (may be a dated snapshot of the one you asked for); "
            "prices are looked up by it.",
        ),
        ReceiptLine(
            "finish reason", 'response_metadata["finish_reason"]', _fmt(meta.get("finish_reason")),
            "Why the answer ended: 'stop' = complete, 'length' = cut off by max tokens.",
        ),
        ReceiptLine(
            "system fingerprint", 'response_metadata["system_fingerprint"]',
            _fmt(meta.get("system_fingerprint")),
            "The backend build/configuration; when it changes, the same request (even with a seed) "
            "can answer differently.",
        ),
        ReceiptLine(
            "service tier", 'response_metadata["service_tier"]', _fmt(meta.get("service_tier")),
            "Which processing tier served the call (default, priority, flex): it sets the price. "
            "Only OpenAI reports it.",
        ),
    ]
    if meta.get("id"):
        lines.append(
            ReceiptLine(
                "response id", 'response_metadata["id"]', _fmt(meta.get("id")),
                "The provider's id for this answer: quote it when asking the provider about a call.",
            )
        )
    if raw:
        lines.append(
            ReceiptLine(
                "raw token usage", 'response_metadata["token_usage"]',
                f"{raw.get('prompt_tokens', '?')} prompt / {raw.get('completion_tokens', '?')} completion",
                "OpenAI's own usage block, as the concept note reads it; only invoke responses carry it.",
            )
        )
    return lines


def raw_receipt(response_metadata: Mapping[str, Any], usage: Usage | None) -> dict[str, Any]:
    """The metadata as JSON-ready dicts (what "Show raw JSON" displays).

    Example:
        >>> raw_receipt({"finish_reason": "stop"}, None)
        {'response_metadata': {'finish_reason': 'stop'}, 'usage_metadata': None}
    """
    return {
        "response_metadata": _jsonable(dict(response_metadata or {})),
        "usage_metadata": usage.as_dict() if usage else None,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
