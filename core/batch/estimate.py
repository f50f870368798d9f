"""Before running a batch: how many calls, roughly how many tokens, roughly what it costs.

Input tokens are counted, not guessed, where the model's tokenizer is at hand:

- the embedded model: its llama.cpp server has `/apply-template` and `/tokenize`, so the count
  includes the chat template the real call will wrap the prompt in;
- OpenAI models: `ChatOpenAI.get_num_tokens_from_messages` (tiktoken, plus OpenAI's per-message
  overhead). tiktoken downloads its encoding files on first use and caches them; on a machine
  without the internet (and no cache) it cannot, so the estimate falls back to the rule below
  and says so. (A PyPI package bundling cl100k_base exists, but not o200k_base, the encoding of
  the gpt-4o/4.1/5 families: not worth a dependency.)

Elsewhere the estimate is the usual rule of thumb of about four characters per token plus a few
tokens of chat formatting per call. Output tokens are unknown before the answers exist, so the
cost is given as a range: input only, up to every answer using all of `max_tokens`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from core.call.models import Endpoint
from core.money.pricing import ModelPrice, estimate_cost
from core.settings import Provider

TIKTOKEN_LOAD_TIMEOUT_S = 5.0  # tiktoken's download has no timeout of its own
TIKTOKEN_RETRY_AFTER_S = 300.0  # after a failed load, use the rule this long before trying again
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


def estimate_input_tokens(
    prompts: Sequence[str],
    endpoint: Endpoint,
    *,
    timeout_s: float = 5.0,
    openai_counter: Callable[[str], Callable[[str], int]] | None = None,
) -> TokenEstimate:
    """Input tokens for these prompts: counted where a tokenizer is at hand, else the rule.

    Args:
        prompts: one call each.
        endpoint: the embedded model is counted by its own server; OpenAI models with tiktoken.
        timeout_s: for the embedded server's tokenizer requests.
        openai_counter: model name → a function counting one prompt's tokens as a one-message
            chat call (default: `ChatOpenAI.get_num_tokens_from_messages`). It may raise when
            tiktoken cannot load its encoding; the rule is used then.

    Example:
        >>> from pydantic import SecretStr
        >>> ep = Endpoint(Provider.COMPATIBLE, "http://localhost:11434/v1", "llama3.2",
        ...               SecretStr("k"), "LAB_COMPAT_API_KEY")
        >>> estimate_input_tokens(["What is 2 + 2?"], ep)
        TokenEstimate(input_tokens=11,
                      method='≈ 4 characters per token + 7 per call for the chat format', counted=False)
    """
    why_rule = ""
    if endpoint.provider is Provider.LOCAL and prompts:
        try:
            # Straight to the server, not through the lab's network proxy: counting is not a call.
            total = _count_on_llama_cpp(prompts, endpoint.direct, timeout_s)
            return TokenEstimate(total, "counted by the embedded model's tokenizer", True)
        except (httpx.HTTPError, KeyError, ValueError, TypeError):
            pass  # fall back to the rule of thumb below, and say so
    if endpoint.provider is Provider.OPENAI and prompts:
        try:
            count = (openai_counter or tiktoken_counter)(endpoint.model)
            total = sum(count(p) for p in prompts)
            return TokenEstimate(
                total,
                "counted with tiktoken (ChatOpenAI.get_num_tokens_from_messages: the prompt "
                "plus OpenAI's 3 tokens per message and 3 for the reply)",
                True,
            )
        except Exception as exc:  # no encoding offline, an unknown model: use the rule, say why
            why_rule = f" (tiktoken could not count: {_short_reason(exc)})"
    total = sum(rough_tokens(p) for p in prompts)
    return TokenEstimate(
        total,
        f"≈ {CHARS_PER_TOKEN} characters per token + {CHAT_OVERHEAD_TOKENS} per call for the "
        f"chat format{why_rule}",
        False,
    )


_tiktoken_failures: dict[str, tuple[float, str]] = {}
_tiktoken_lock = threading.Lock()


def tiktoken_counter(model: str) -> Callable[[str], int]:
    """A counter of one prompt's input tokens for an OpenAI `model`, as ChatOpenAI counts them.

    The first use loads tiktoken's encoding — a download when it is not cached — in a worker
    thread bounded by `TIKTOKEN_LOAD_TIMEOUT_S`. A failure is remembered for
    `TIKTOKEN_RETRY_AFTER_S`, so an offline machine does not wait on every page rerun.

    Raises:
        RuntimeError: the encoding could not be loaded (offline, no cache) or in time.
        NotImplementedError: langchain-openai does not know this model's message format.
    """
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    with _tiktoken_lock:
        failed = _tiktoken_failures.get(model)
        if failed and time.monotonic() - failed[0] < TIKTOKEN_RETRY_AFTER_S:
            raise RuntimeError(failed[1])
    # Counting only: this model never makes a request, so any key will do.
    llm = ChatOpenAI(model=model, api_key=SecretStr("not-used-for-counting"))
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            llm.get_num_tokens_from_messages([HumanMessage("warm up")])  # loads the encoding
            outcome.append(None)
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append(exc)

    worker = threading.Thread(target=load, name="tiktoken-load", daemon=True)
    worker.start()
    worker.join(TIKTOKEN_LOAD_TIMEOUT_S)
    problem = outcome[0] if outcome else TimeoutError(
        f"loading its encoding took over {TIKTOKEN_LOAD_TIMEOUT_S:g} s"
    )
    if problem is not None:
        if isinstance(problem, NotImplementedError):
            raise problem
        reason = _short_reason(problem)
        with _tiktoken_lock:
            _tiktoken_failures[model] = (time.monotonic(), reason)
        raise RuntimeError(reason) from problem
    return lambda prompt: llm.get_num_tokens_from_messages([HumanMessage(prompt)])


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    if "openaipublic" in text or "Connection" in type(exc).__name__ or "resolve" in text:
        return "it downloads its encoding on first use, and the download failed (offline?)"
    return text.splitlines()[0][:160] if text else type(exc).__name__


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
        >>> counted = TokenEstimate(11000, "counted", True)
        >>> e = estimate_batch(["What is 2 + 2?"] * 1000, ep, max_tokens=100, price=price,
        ...                    tokens=counted)
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


def estimate_cache_key(prompts: Sequence[str], endpoint: Endpoint) -> tuple[int, str, str]:
    """What a token count depends on (the prompts, the server that counts them, its model): the
    page keeps counts under this key, since counting costs one local request per prompt.

    Example:
        >>> from pydantic import SecretStr
        >>> e = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:1/v1", "m", SecretStr("k"), "KEY")
        >>> estimate_cache_key(["a", "b"], e) == estimate_cache_key(("a", "b"), e)
        True
    """
    return hash(tuple(prompts)), endpoint.base_url, endpoint.model
