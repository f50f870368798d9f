"""Generate runnable LangChain code that reproduces what a page just ran.

The snippet is built from the same keyword arguments the app passes to `ChatOpenAI`
(`chat_model_kwargs`), and it reads the key from an environment variable: it never holds one.
"""

from __future__ import annotations

import textwrap
from typing import Any

from core.models import Endpoint, chat_model_kwargs
from core.settings import ModelSettings


def model_setup_code(settings: ModelSettings, endpoint: Endpoint) -> str:
    """Imports plus the `llm = ChatOpenAI(...)` lines for these settings.

    Example:
        >>> from pydantic import SecretStr
        >>> from core.settings import Provider
        >>> s = ModelSettings(provider=Provider.OPENAI, model="gpt-4o-mini",
        ...                   base_url="https://api.openai.com/v1", api_key=SecretStr("sk-secret"))
        >>> from core.models import resolve_endpoint
        >>> code = model_setup_code(s, resolve_endpoint(s, None))
        >>> "sk-secret" in code, 'os.environ["OPENAI_API_KEY"]' in code
        (False, True)
    """
    # Through the lab's network proxy the client talks to a loopback URL with a per-session
    # key; the snippet is for the user's own script, so it names the real endpoint instead.
    direct = endpoint.direct
    kwargs: dict[str, Any] = chat_model_kwargs(settings, direct)
    lines = [f"    {name}={value!r}," for name, value in kwargs.items()]
    lines.insert(2, f'    api_key=os.environ["{direct.key_env_var}"],')
    note = []
    if endpoint.network:
        note = [
            f"# The lab ran this through its network simulator ({endpoint.network});",
            "# this code calls the endpoint directly.",
            "",
        ]
    return "\n".join(
        [
            "import os",
            "",
            "from langchain_openai import ChatOpenAI",
            "",
            *note,
            "llm = ChatOpenAI(",
            *lines,
            ")",
        ]
    )


def streaming_code(settings: ModelSettings, endpoint: Endpoint, prompt: str) -> str:
    """A script that streams `prompt` and prints time to first token and usage."""
    body = f"""
    import time

    start = time.perf_counter()
    first_token_at = None
    usage = None
    for chunk in llm.stream({prompt!r}):
        if chunk.content and first_token_at is None:
            first_token_at = time.perf_counter() - start
        if chunk.usage_metadata:  # the last chunk carries usage (stream_usage=True)
            usage = chunk.usage_metadata
        print(chunk.content, end="", flush=True)
    print()
    print(f"time to first token: {{first_token_at:.3f}} s, total: {{time.perf_counter() - start:.3f}} s")
    print("usage:", usage)
    """
    return model_setup_code(settings, endpoint) + "\n" + textwrap.dedent(body)


def metadata_code(
    settings: ModelSettings,
    endpoint: Endpoint,
    prompt: str,
    price: tuple[float, float | None, float] | None = None,
) -> str:
    """A script that prints a call's receipt (invoke and stream) and what it cost.

    Args:
        settings: the session's settings (max tokens included).
        endpoint: where the call goes.
        prompt: the prompt to send.
        price: (input, cached input or None, output) USD per 1M tokens; None → cost not printed.
    """
    if price is None:
        cost_part = 'print("no price for this model: add one to compute the cost")\n'
    else:
        input_price, cached_price, output_price = price
        cached_price = input_price if cached_price is None else cached_price
        cost_part = f"""
        # USD per 1M tokens. Cached input tokens are part of input_tokens: price them once.
        INPUT, CACHED, OUTPUT = {input_price!r}, {cached_price!r}, {output_price!r}
        cached = usage.get("input_token_details", {{}}).get("cache_read", 0)
        cost = ((usage["input_tokens"] - cached) * INPUT + cached * CACHED
                + usage["output_tokens"] * OUTPUT) / 1_000_000
        print(f"cost: ${{cost:.6f}}")
        """
    body = f"""
    from langchain_core.callbacks import get_usage_metadata_callback

    with get_usage_metadata_callback() as usage_callback:
        response = llm.invoke({prompt!r})
        print(response.content)
        print("response_metadata:", response.response_metadata)  # model_name, finish_reason, ...
        print("usage_metadata:", response.usage_metadata)  # input/output/total tokens, details

        streamed_usage = None
        for chunk in llm.stream({prompt!r}):
            if chunk.usage_metadata:  # only the last chunk, and only with stream_usage=True
                streamed_usage = chunk.usage_metadata
        print("stream usage_metadata:", streamed_usage)

    # LangChain's own tally per model name (calls without a model name are not counted).
    print("usage callback:", usage_callback.usage_metadata)
    usage = response.usage_metadata
    """
    return model_setup_code(settings, endpoint) + "\n" + textwrap.dedent(body) + textwrap.dedent(cost_part)
