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


# --- Async page ------------------------------------------------------------------------------

_ASYNC_CLIENT_NOTE = """\
    # An HTTP client owned by this event loop: langchain-openai otherwise shares one client per
    # process, whose connections die with the first loop ("Event loop is closed" on the next
    # asyncio.run — a web app makes one per request or click)."""

_ASYNC_BODIES = {
    "gather": """\
        answers = await asyncio.gather(
            *(llm.ainvoke(question) for question in QUESTIONS),
            return_exceptions=True,  # a failed call comes back as its exception
        )""",
    "abatch": """\
        answers = await llm.abatch(
            QUESTIONS,
            config={{"max_concurrency": {max_concurrency}}},  # at most {max_concurrency} in flight
            return_exceptions=True,  # a failed call comes back as its exception
        )""",
    "astream": """\
        answers = await asyncio.gather(
            *(stream_one(i, question) for i, question in enumerate(QUESTIONS)),
            return_exceptions=True,  # a failed stream comes back as its exception
        )""",
}


_STREAM_ONE = """\

        async def stream_one(index: int, question: str) -> str:
            text = ""
            async for chunk in llm.astream(question):
                if chunk.content:
                    print(f"[{index}] {chunk.content!r}")  # the streams interleave
                    text += chunk.content
            return text

"""


def _chat_openai_lines(settings: ModelSettings, endpoint: Endpoint, indent: str, **extra: str) -> str:
    """``llm = ChatOpenAI(...)`` for these settings, indented, with extra keyword expressions.

    Like `model_setup_code`, it names the real endpoint, never the lab's network proxy.
    """
    direct = endpoint.direct
    kwargs: dict[str, Any] = chat_model_kwargs(settings, direct)
    lines = [f"{indent}    {name}={value!r}," for name, value in kwargs.items()]
    lines.insert(2, f'{indent}    api_key=os.environ["{direct.key_env_var}"],')
    lines += [f"{indent}    {name}={expression}," for name, expression in extra.items()]
    note = []
    if endpoint.network:
        note = [
            f"{indent}# The lab ran this through its network simulator ({endpoint.network});",
            f"{indent}# this code calls the endpoint directly.",
        ]
    return "\n".join([*note, f"{indent}llm = ChatOpenAI(", *lines, f"{indent})"])


def async_code(
    mode: str,
    settings: ModelSettings,
    endpoint: Endpoint,
    questions: list[str],
    *,
    max_concurrency: int = 2,
) -> str:
    """A script asking `questions` the way one Async-page mode does, printing the wall time.

    Args:
        mode: "sequential", "gather", "abatch" or "astream" (`core.concurrency.Mode` values).

    Example:
        >>> from core.settings import Provider
        >>> from core.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
        >>> code = async_code("abatch", s, resolve_endpoint(s, None), ["What is AI?"])
        >>> '"max_concurrency": 2' in code and "return_exceptions=True" in code
        True
    """
    questions_line = f"QUESTIONS = {list(questions)!r}"
    if mode == "sequential":
        body = f"""\
import os
import time

from langchain_openai import ChatOpenAI

{_chat_openai_lines(settings, endpoint, "")}

{questions_line}

start = time.perf_counter()
for question in QUESTIONS:
    began = time.perf_counter() - start
    try:
        answer = llm.invoke(question).content
    except Exception as exc:  # one failure does not stop the loop
        answer = f"failed: {{exc}}"
    print(f"{{began:5.2f}} → {{time.perf_counter() - start:5.2f}} s  {{question}} -> {{answer!r}}")
print(f"wall time: {{time.perf_counter() - start:.2f}} s")
"""
        return body
    if mode not in _ASYNC_BODIES:
        raise ValueError(f"unknown mode {mode!r}")
    call = _ASYNC_BODIES[mode].format(max_concurrency=max_concurrency)
    helper = _STREAM_ONE if mode == "astream" else ""
    return f"""\
import asyncio
import os
import time

import httpx
from langchain_openai import ChatOpenAI

{questions_line}


async def main() -> None:
{_ASYNC_CLIENT_NOTE}
    async with httpx.AsyncClient() as http:
{_chat_openai_lines(settings, endpoint, " " * 8, http_async_client="http")}
{helper}        start = time.perf_counter()
{call}
        print(f"wall time: {{time.perf_counter() - start:.2f}} s")
    for question, answer in zip(QUESTIONS, answers):
        text = answer if isinstance(answer, Exception) else getattr(answer, "content", answer)
        print(question, "->", repr(text))


asyncio.run(main())
"""
