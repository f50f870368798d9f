"""Before running a batch: how many calls, roughly how many tokens, roughly what it costs.

Input tokens are counted, not guessed, when the embedded model is in use: its llama.cpp server
has `/apply-template` and `/tokenize`, so the count includes the chat template the real call
will wrap the prompt in. Elsewhere the estimate is the usual rule of thumb of about four
characters per token plus a few tokens of chat formatting per call (tiktoken would be closer for
OpenAI models, but it downloads its tables from the internet on first use). Output tokens are
unknown before the answers exist, so the cost is given as a range: input only, up to every
answer using all of `max_tokens`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from core.models import Endpoint
from core.pricing import ModelPrice, estimate_cost
from core.settings import Provider

CHARS_PER_TOKEN = 4
# OpenAI's chat format adds about this many tokens per one-message request (role markers and
# the assistant's reply primer).
CHAT_OVERHEAD_TOKENS = 7


@dataclass(frozen=True)
class TokenEstimate:
    """Input tokens of a batch, and how they were obtained (shown next to the number)."""

    input_tokens: int
    method: str
    counted: bool


@dataclass(frozen=True)
class BatchEstimate:
    """What a batch will take, before it runs. Everything but `calls` is an estimate.

    Attributes:
        calls: one call per prompt.
        tokens: the input-token estimate.
        max_output_tokens: the ceiling on output tokens (`max_tokens` × calls).
        input_cost_usd: the input tokens at the model's price; None = no price.
        max_cost_usd: input plus the output ceiling; None = no price.
    """

    calls: int
    tokens: TokenEstimate
    max_output_tokens: int
    input_cost_usd: float | None
    max_cost_usd: float | None


def rough_tokens(text: str) -> int:
    """About four characters per token, plus the chat format's few tokens.

    Example:
        >>> rough_tokens("What is the capital of France?")  # 30 characters
        15
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN) + CHAT_OVERHEAD_TOKENS


def estimate_input_tokens(prompts: Sequence[str], endpoint: Endpoint, *, timeout_s: float = 5.0) -> TokenEstimate:
    """Input tokens for these prompts on this endpoint: counted on the embedded model, else rough.

    Example:
        >>> from pydantic import SecretStr
        >>> ep = Endpoint(Provider.OPENAI, "https://api.openai.com/v1", "gpt-4o-mini",
        ...               SecretStr("k"), "OPENAI_API_KEY")
        >>> estimate_input_tokens(["What is 2 + 2?"], ep)
        TokenEstimate(input_tokens=11,
                      method='≈ 4 characters per token + 7 per call for the chat format', counted=False)
    """
    if endpoint.provider is Provider.LOCAL and prompts:
        try:
            # Straight to the server, not through the lab's network proxy: counting is not a call.
            total = _count_on_llama_cpp(prompts, endpoint.direct, timeout_s)
            return TokenEstimate(total, "counted by the embedded model's tokenizer", True)
        except (httpx.HTTPError, KeyError, ValueError, TypeError):
            pass  # fall back to the rule of thumb below, and say so
    total = sum(rough_tokens(p) for p in prompts)
    return TokenEstimate(
        total,
        f"≈ {CHARS_PER_TOKEN} characters per token + {CHAT_OVERHEAD_TOKENS} per call for the chat format",
        False,
    )


def _count_on_llama_cpp(prompts: Sequence[str], endpoint: Endpoint, timeout_s: float) -> int:
    root = endpoint.base_url.removesuffix("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {endpoint.api_key.get_secret_value()}"}
    with httpx.Client(base_url=root, headers=headers, timeout=timeout_s) as client:

        def count(text: str) -> int:
            response = client.post("/tokenize", json={"content": text})
            response.raise_for_status()
            return len(response.json()["tokens"])

        # The chat template adds the same tokens around every prompt: measure them once.
        templated = client.post(
            "/apply-template", json={"messages": [{"role": "user", "content": prompts[0]}]}
        )
        templated.raise_for_status()
        overhead = count(templated.json()["prompt"]) - count(prompts[0])
        return sum(count(p) for p in prompts) + overhead * len(prompts)


def estimate_batch(
    prompts: Sequence[str],
    endpoint: Endpoint,
    *,
    max_tokens: int,
    price: ModelPrice | None,
    tokens: TokenEstimate | None = None,
) -> BatchEstimate:
    """Calls, input tokens and a cost range for running `prompts` once each.

    Example:
        >>> from pydantic import SecretStr
        >>> ep = Endpoint(Provider.OPENAI, "https://api.openai.com/v1", "gpt-4o-mini",
        ...               SecretStr("k"), "OPENAI_API_KEY")
        >>> price = ModelPrice("gpt-4o-mini", "openai", 0.15, 0.075, 0.6)
        >>> e = estimate_batch(["What is 2 + 2?"] * 1000, ep, max_tokens=100, price=price)
        >>> e.calls, e.tokens.input_tokens, e.max_output_tokens, round(e.max_cost_usd, 5)
        (1000, 11000, 100000, 0.06165)
    """
    tokens = tokens or estimate_input_tokens(prompts, endpoint)
    max_output = max_tokens * len(prompts)
    if price is None:
        return BatchEstimate(len(prompts), tokens, max_output, None, None)
    return BatchEstimate(
        calls=len(prompts),
        tokens=tokens,
        max_output_tokens=max_output,
        input_cost_usd=estimate_cost(tokens.input_tokens, 0, price),
        max_cost_usd=estimate_cost(tokens.input_tokens, max_output, price),
    )
