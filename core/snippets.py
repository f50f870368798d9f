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


def batch_code(
    settings: ModelSettings, endpoint: Endpoint, prompts: list[str], max_concurrency: int
) -> str:
    """A script that runs `prompts` with `batch_as_completed`, keeping failures as results."""
    body = f"""
    import time

    prompts = {prompts!r}

    start = time.perf_counter()
    results = {{}}
    # Results arrive as each call finishes (not in input order); with return_exceptions=True a
    # failed call comes back as its exception instead of stopping the whole batch.
    for index, result in llm.batch_as_completed(
        prompts, config={{"max_concurrency": {max_concurrency}}}, return_exceptions=True
    ):
        results[index] = result
        if isinstance(result, Exception):
            print(f"#{{index + 1}} failed: {{result!r}}")
        else:
            print(f"#{{index + 1}} done: {{result.content!r}} {{result.usage_metadata}}")
    print(f"{{len(prompts)}} calls in {{time.perf_counter() - start:.2f}} s")
    """
    return model_setup_code(settings, endpoint) + "\n" + textwrap.dedent(body)
