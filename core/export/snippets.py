"""Generate runnable LangChain code that reproduces what a page just ran.

The snippet is built from the same keyword arguments the app passes to `ChatOpenAI`
(`chat_model_kwargs`), and it reads the key from an environment variable: it never holds one.
"""

from __future__ import annotations

import textwrap
from typing import Any

from core.call.models import Endpoint, chat_model_kwargs
from core.security.keys import without_userinfo
from core.settings import ModelSettings


def model_setup_code(settings: ModelSettings, endpoint: Endpoint) -> str:
    """Imports plus the `llm = ChatOpenAI(...)` lines for these settings.

    Example:
        >>> from pydantic import SecretStr
        >>> from core.settings import Provider
        >>> s = ModelSettings(provider=Provider.OPENAI, model="gpt-4o-mini",
        ...                   base_url="https://api.openai.com/v1", api_key=SecretStr("sk-secret"))
        >>> from core.call.models import resolve_endpoint
        >>> code = model_setup_code(s, resolve_endpoint(s, None))
        >>> "sk-secret" in code, 'os.environ["OPENAI_API_KEY"]' in code
        (False, True)
    """
    # Through the lab's network proxy the client talks to a loopback URL with a per-session
    # key; the snippet is for the user's own script, so it names the real endpoint instead.
    direct = endpoint.direct
    kwargs: dict[str, Any] = _shown_kwargs(settings, direct)
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


def _shown_kwargs(settings: ModelSettings, direct: Endpoint) -> dict[str, Any]:
    """`chat_model_kwargs` as a snippet shows them: the base URL without `user:password@`
    (a secret never goes into code a user copies; their own script adds it back)."""
    kwargs = chat_model_kwargs(settings, direct)
    kwargs["base_url"] = without_userinfo(str(kwargs["base_url"]))
    return kwargs


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
_EVENTS_CHAINS: dict[str, str] = {
    "joke": '''
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        prompt = ChatPromptTemplate.from_template("Tell me a joke about {topic}.")
        chain = prompt | llm | StrOutputParser()
    ''',
    "tool": '''
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnableLambda
        from langchain_core.tools import tool


        @tool
        def answer_stats(text: str) -> dict[str, int]:
            """Count the words, characters and sentences in a piece of text."""
        {fail_line}    sentences = sum(text.count(mark) for mark in ".!?") or (1 if text.strip() else 0)
            return {{"words": len(text.split()), "characters": len(text), "sentences": sentences}}


        prompt = ChatPromptTemplate.from_template("Tell me a joke about {{topic}}.")
        # Called with a dict, the tool reports its input in on_tool_start.
        as_tool_input = RunnableLambda(lambda text: {{"text": text}}, name="as_tool_input")
        chain = prompt | llm | StrOutputParser() | as_tool_input | answer_stats
    ''',
    "agent": '''
        from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
        from langchain_core.runnables import RunnableConfig, RunnableLambda
        from langchain_core.tools import tool


        @tool
        def answer_stats(text: str) -> dict[str, int]:
            """Count the words, characters and sentences in a piece of text."""
        {fail_line}    sentences = sum(text.count(mark) for mark in ".!?") or (1 if text.strip() else 0)
            return {{"words": len(text.split()), "characters": len(text), "sentences": sentences}}


        TOOLS = {{"answer_stats": answer_stats}}
        MAX_STEPS = {max_steps}


        async def agent_loop(inputs: dict, config: RunnableConfig) -> str:
            question = f"How many words and sentences are in this text: “{{inputs['topic']}}”? Use a tool."
            messages = [HumanMessage(question)]
            for step in range(1, MAX_STEPS + 1):
                first = step == 1
                sent = list(messages)
                options = {{"tool_choice": "required" if first else "auto"}}
        {forcing}        model = llm.bind_tools(list(TOOLS.values()), **options)
                reply = None
                async for chunk in model.astream(sent, config=config):  # tool_call_chunks stream here
                    reply = chunk if reply is None else reply + chunk
                messages.append(AIMessage(content=reply.content, tool_calls=reply.tool_calls))
                if not reply.tool_calls:
                    return reply.content
                for call in reply.tool_calls:  # the model's own calls, with its own arguments
                    try:
                        result = await TOOLS[call["name"]].ainvoke(call["args"], config=config)
                        messages.append(ToolMessage(str(result), tool_call_id=call["id"]))
                    except Exception as exc:  # the error goes back to the model
                        messages.append(ToolMessage(f"Error: {{exc}}", tool_call_id=call["id"], status="error"))
            raise RuntimeError(f"Stopped after {{MAX_STEPS}} model calls: the step limit.")


        chain = RunnableLambda(agent_loop, name="agent_loop")
    ''',
    "parallel": '''
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnableParallel

        chain = RunnableParallel(  # both branches run at the same time
            joke=ChatPromptTemplate.from_template("Tell me a joke about {topic}.") | llm | StrOutputParser(),
            haiku=ChatPromptTemplate.from_template("Write a haiku about {topic}.") | llm | StrOutputParser(),
        )
    ''',
    "progress": '''
        from langchain_core.callbacks import adispatch_custom_event
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnableConfig, RunnableLambda

        TAKES = [
            ("joke", "Tell me a one-line joke about {topic}."),
            ("fact", "Tell me one surprising fact about {topic}, in one sentence."),
            ("haiku", "Write a haiku about {topic}."),
        ]


        async def three_takes(inputs: dict, config: RunnableConfig) -> dict:
            total = len(TAKES)
            await adispatch_custom_event("progress", {"done": 0, "total": total, "label": "starting"}, config=config)
            answers = {}
            for done, (kind, template) in enumerate(TAKES, start=1):
                take = ChatPromptTemplate.from_template(template) | llm | StrOutputParser()
                answers[kind] = await take.ainvoke(inputs, config=config)
                await adispatch_custom_event(
                    "progress", {"done": done, "total": total, "label": f"wrote the {kind}"}, config=config
                )
            return answers


        chain = RunnableLambda(three_takes, name="three_takes")
    ''',
}

_EVENTS_LOOP = '''
    import asyncio
    import time


    async def main() -> None:
        start = time.perf_counter()
        open_runs = {{}}  # run id -> name of runs that started and have not ended
        failed_step = None
        try:
            async for event in chain.astream_events({inputs}, version="v2"{filters}):
                ms = (time.perf_counter() - start) * 1000  # events carry no timestamp: stamp on receipt
                kind, name, run_id = event["event"], event["name"], event["run_id"]
                if kind.endswith("_start"):
                    open_runs[run_id] = name
                elif kind.endswith(("_end", "_error")):
                    open_runs.pop(run_id, None)
                    if kind.endswith("_error"):
                        failed_step = name
                parent = event["parent_ids"][-1][-6:] if event["parent_ids"] else "-"
                data = event["data"]
                if kind == "on_chat_model_stream":
                    detail = repr(data["chunk"].content)
                elif kind == "on_custom_event":
                    detail = str(data)
                elif kind.endswith("_end"):
                    detail = repr(data.get("output"))[:70]
                else:
                    detail = ""
                print(f"{{ms:9.1f}} ms  {{kind:<22}} {{name:<20}} run {{run_id[-6:]}}  parent {{parent}}  {{detail}}")
        except Exception as exc:  # v2 has no model-error event: the error is raised here
            step = failed_step or (list(open_runs.values())[-1] if open_runs else "the chain")
            print(f"error in {{step}}: {{type(exc).__name__}}: {{exc}}")


    asyncio.run(main())
'''


def events_code(
    settings: ModelSettings,
    endpoint: Endpoint,
    chain_key: str,
    topic: str,
    *,
    fail_tool: bool = False,
    filters: dict[str, list[str]] | None = None,
    max_steps: int = 4,
) -> str:
    """A script that builds the chosen chain and prints every `astream_events` v2 event.

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://localhost:1/v1", model="m")
        >>> code = events_code(s, resolve_endpoint(s, None), "tool", "cats",
        ...                    filters={"include_types": ["tool"]})
        >>> "@tool" in code and "include_types=['tool']" in code
        True
    """
    fail_line = (
        '    raise ValueError("answer_stats failed on purpose")\n' if fail_tool else ""
    )
    chain = textwrap.dedent(_EVENTS_CHAINS[chain_key])
    if chain_key == "tool":
        chain = chain.format(fail_line=fail_line)
    elif chain_key == "agent":
        from core.settings import Provider

        forcing = ""
        if endpoint.direct.provider is Provider.LOCAL:  # the lab's embedded llama.cpp server
            forcing = (
                "        if first:  # llama.cpp: start the reply with the tool-call tag; the grammar does the rest\n"
                "            sent.append(AIMessage(\"<tool_call>\\n\"))\n"
                "            options |= {\"stop\": [\"</tool_call>\"], \"parallel_tool_calls\": False}\n"
            )
        chain = chain.format(fail_line=fail_line, forcing=forcing, max_steps=max_steps)
    filter_args = "".join(f", {name}={value!r}" for name, value in (filters or {}).items())
    loop = textwrap.dedent(_EVENTS_LOOP).format(inputs=repr({"topic": topic}), filters=filter_args)
    return model_setup_code(settings, endpoint) + "\n" + chain + loop


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
    kwargs: dict[str, Any] = _shown_kwargs(settings, direct)
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
        mode: "sequential", "gather", "abatch" or "astream" (`core.patterns.concurrency.Mode` values).

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
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


def rate_limit_code(
    settings: ModelSettings,
    endpoint: Endpoint,
    prompts: list[str],
    max_concurrency: int,
    requests_per_second: float,
) -> str:
    """A script that runs `prompts` as a batch under LangChain's `InMemoryRateLimiter`.

    It prints each HTTP request as it goes out and its status: the requests are spaced by about
    1 / rate, and none is refused.

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
        >>> code = rate_limit_code(s, resolve_endpoint(s, None), ["Hi"], 8, 2.0)
        >>> "InMemoryRateLimiter(" in code and "rate_limiter=rate_limiter," in code
        True
    """
    setup = _chat_openai_lines(
        settings, endpoint, "", rate_limiter="rate_limiter", http_client="http_client"
    )
    return f'''import os
import time

import openai
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_openai import ChatOpenAI

# A token bucket: {requests_per_second:g} tokens a second, one per model call, no bursts
# (max_bucket_size=1). It limits how often calls start, in this process only; stay under the
# API's limit (per minute: the limit / 60; "N at once": N / one call's latency).
rate_limiter = InMemoryRateLimiter(
    requests_per_second={requests_per_second!r},
    check_every_n_seconds=0.05,
    max_bucket_size=1,
)

start = time.perf_counter()


def on_request(request):
    print(f"{{time.perf_counter() - start:6.2f}} s  request sent")


def on_response(response):
    print(f"{{time.perf_counter() - start:6.2f}} s  HTTP {{response.status_code}}")  # 429 = refused


# The HTTP client openai uses (httpx2), with hooks that see every request, retries included.
http_client = openai.DefaultHttpxClient(event_hooks={{"request": [on_request], "response": [on_response]}})
{setup}

prompts = {prompts!r}
results = llm.batch(
    prompts,
    config={{"max_concurrency": {max_concurrency}}},
    return_exceptions=True,  # a refused call comes back as its exception
)
for prompt, result in zip(prompts, results):
    print(prompt, "->", repr(result if isinstance(result, Exception) else result.content))
print(f"{{len(prompts)}} calls in {{time.perf_counter() - start:.2f}} s")
'''


def retry_code(settings: ModelSettings, endpoint: Endpoint, prompts: list[str], attempts: int) -> str:
    """A script asking `prompts` at once, retried both ways: the client's and `with_retry`.

    One `invoke` per prompt on a thread pool — never `with_retry().batch(...,
    return_exceptions=True)`, which in langchain-core 1.8.3 can give a row that failed for good
    another row's result (LangChain issue #35475).

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
        >>> code = retry_code(s, resolve_endpoint(s, None), ["Hi"], 4)
        >>> "max_retries=3" in code and "stop_after_attempt=4" in code and ".batch(prompts" not in code
        True
    """
    client_retries = _chat_openai_lines(
        settings.with_changes(max_retries=attempts - 1), endpoint, "", http_client="http_client"
    )
    no_client_retries = _chat_openai_lines(
        settings.with_changes(max_retries=0), endpoint, "", http_client="http_client"
    ).replace("llm = ChatOpenAI(", "llm_once = ChatOpenAI(", 1)
    # Both lines blocks carry the "network simulator" note when there is one: keep the first.
    if endpoint.network:
        no_client_retries = "\n".join(no_client_retries.splitlines()[2:])
    return f'''import os
import time
from concurrent.futures import ThreadPoolExecutor

import openai
from langchain_openai import ChatOpenAI

start = time.perf_counter()


def on_response(response):
    retry = response.request.headers.get("x-stainless-retry-count", "0")
    print(f"{{time.perf_counter() - start:6.2f}} s  HTTP {{response.status_code}}"
          f"  client retry #{{retry}}  Retry-After: {{response.headers.get('retry-after')}}")


# openai's HTTP client (httpx2), with a hook that sees every attempt.
http_client = openai.DefaultHttpxClient(event_hooks={{"response": [on_response]}})

# 1. The client's own retries (429, 5xx, connection errors), waiting what Retry-After says.
{client_retries}

# 2. LangChain's with_retry: the whole call again, with exponential back-off and jitter; it does
#    not read Retry-After. The client's own retries are off, so only with_retry retries.
{no_client_retries}
retrying = llm_once.with_retry(
    retry_if_exception_type=(openai.RateLimitError, openai.InternalServerError,
                             openai.APIConnectionError, openai.APITimeoutError),
    wait_exponential_jitter=True,
    stop_after_attempt={attempts},
)

prompts = {prompts!r}


def ask(runnable, prompt):
    try:
        return runnable.invoke(prompt).content
    except Exception as exc:  # a call that failed for good keeps its own exception
        return exc


# One invoke per prompt, all at once. Not with_retry().batch(..., return_exceptions=True): in
# langchain-core 1.8.3 it can hand a row that failed for good another row's result (#35475).
for name, runnable in (("client max_retries={attempts - 1}", llm), ("with_retry", retrying)):
    print("---", name)
    start = time.perf_counter()
    with ThreadPoolExecutor(len(prompts)) as pool:
        answers = list(pool.map(lambda p: ask(runnable, p), prompts))
    for prompt, answer in zip(prompts, answers):
        print(prompt, "->", repr(answer))
'''


def fallback_code(
    settings: ModelSettings,
    primary: Endpoint,
    fallback: Endpoint,
    prompt: str,
    *,
    primary_fails: bool = True,
) -> str:
    """A script asking `prompt` of the primary with a fallback, printing which model answered.

    Example:
        >>> from pydantic import SecretStr
        >>> from core.settings import Provider
        >>> p = Endpoint(Provider.COMPATIBLE, "http://127.0.0.1:9/v1", "m", SecretStr("x"), "LAB_COMPAT_API_KEY")
        >>> f = Endpoint(Provider.LOCAL, "http://127.0.0.1:5/v1", "small", SecretStr("y"), "LAB_LOCAL_API_KEY")
        >>> code = fallback_code(ModelSettings(), p, f, "Hi")
        >>> ".with_fallbacks(" in code and "max_retries=0" in code
        True
    """
    first = _chat_openai_lines(settings.with_changes(max_retries=0), primary, "").replace(
        "llm = ChatOpenAI(", "primary = ChatOpenAI(", 1
    )
    second = _chat_openai_lines(settings, fallback, "").replace("llm = ChatOpenAI(", "fallback = ChatOpenAI(", 1)
    note = (
        "# The lab made this primary fail on purpose (all errors, or a wrong base URL).\n"
        if primary_fails else ""
    )
    return f'''import os

from langchain_openai import ChatOpenAI

{note}# Its own retries off: the fallback starts as soon as the primary fails.
{first}
{second}

# On any exception from the primary, the same input goes to the fallback.
llm = primary.with_config(run_name="primary").with_fallbacks(
    [fallback.with_config(run_name="fallback")]
)
answer = llm.invoke({prompt!r})
print(answer.content)
print("answered by:", answer.response_metadata.get("model_name"))
'''


def events_v3_code(settings: ModelSettings, endpoint: Endpoint, prompt: str) -> str:
    """A script streaming one chat-model call through `astream_events` v2, then v3 (beta).

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
        >>> code = events_v3_code(s, resolve_endpoint(s, None), "Hi")
        >>> 'version="v3"' in code and "await stream.text" in code
        True
    """
    setup = _chat_openai_lines(settings, endpoint, " " * 8, http_async_client="http")
    return f'''import asyncio
import os
import warnings

import httpx
from langchain_core._api.beta_decorator import LangChainBetaWarning
from langchain_openai import ChatOpenAI

PROMPT = {prompt!r}


async def main() -> None:
{_ASYNC_CLIENT_NOTE}
    async with httpx.AsyncClient() as http:
{setup}

        print("--- v2: StreamEvent dicts")
        async for event in llm.astream_events(PROMPT, version="v2"):
            if event["event"] == "on_chat_model_stream":
                print(repr(event["data"]["chunk"].text), end=" ", flush=True)
            else:
                print("\\n", event["event"], event["name"], event["run_id"][-6:])
        print()

        print("--- v3 (beta): a typed stream; chat models and graphs only")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LangChainBetaWarning)  # it says: v3 is beta
            stream = await llm.astream_events(PROMPT, version="v3")
        async for event in stream:  # protocol events: message-start, content-block-delta, ...
            print(event["event"], event.get("delta", {{}}).get("text", ""))
        print("text:", repr(await stream.text))
        print("reasoning:", repr(await stream.reasoning))
        print("tool_calls:", await stream.tool_calls)
        print("usage:", (await stream.output).usage_metadata)


asyncio.run(main())
'''


def cache_code(settings: ModelSettings, endpoint: Endpoint, prompt: str) -> str:
    """A script calling `prompt` twice through a per-model `InMemoryCache`, timing both.

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
        >>> "cache=InMemoryCache()," in cache_code(s, resolve_endpoint(s, None), "Hi")
        True
    """
    setup = _chat_openai_lines(settings, endpoint, "", cache="InMemoryCache()")
    return f'''import os
import time

from langchain_core.caches import InMemoryCache
from langchain_openai import ChatOpenAI

# One cache for this model; set_llm_cache(InMemoryCache()) would serve every model in the
# process (and, in a web app, every user).
{setup}

for attempt in ("first", "second"):
    start = time.perf_counter()
    answer = llm.invoke({prompt!r})
    ms = (time.perf_counter() - start) * 1000
    # A cache hit sends no request: its usage_metadata is the first call's, not billed again.
    print(f"{{attempt}} call: {{ms:.1f}} ms  usage: {{answer.usage_metadata}}  {{answer.content!r}}")
'''


def compare_code(
    settings: list[ModelSettings], endpoints: list[Endpoint], prompt: str, *, labels: list[str]
) -> str:
    """A script racing `prompt` on several endpoints at once: one ``astream`` each, gathered.

    Each endpoint prints its time to first token, total, usage and finish reason; one failing
    does not stop the others. Like every snippet it names the real endpoints (never the lab's
    network proxy) and reads each key from an environment variable.

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
        >>> e = resolve_endpoint(s, None)
        >>> code = compare_code([s, s], [e, e], "Hi", labels=["A", "B"])
        >>> "asyncio.gather" in code and code.count("ChatOpenAI(") == 2
        True
    """
    entries = []
    for setting, endpoint, label in zip(settings, endpoints, labels, strict=True):
        direct = endpoint.direct
        kwargs: dict[str, Any] = _shown_kwargs(setting, direct)
        lines = [f"                {name}={value!r}," for name, value in kwargs.items()]
        lines.insert(2, f'                api_key=os.environ["{direct.key_env_var}"],')
        lines.append("                http_async_client=http,")
        note = []
        if endpoint.network:
            note = [
                f"            # The lab ran this one through its network simulator ({endpoint.network});",
                "            # this code calls the endpoint directly.",
            ]
        if endpoint.replay:  # its answers come from a file: no endpoint of its own to show
            note = [
                f"            # {label}: the lab answered from a recording ({endpoint.replay}),",
                "            # served on 127.0.0.1 while the app runs; point base_url and the key at",
                "            # the endpoint that was recorded to call it live.",
            ]
        entries += [*note, f"            {label!r}: ChatOpenAI(", *lines, "            ),"]
    models = "\n".join(entries)
    return f'''\
import asyncio
import os
import time

import httpx
from langchain_openai import ChatOpenAI

PROMPT = {prompt!r}


async def stream_one(name: str, llm: ChatOpenAI) -> None:
    start = time.perf_counter()
    first_token_s = None
    text, usage, finish_reason = "", None, None
    try:
        async for chunk in llm.astream(PROMPT):
            if chunk.content:
                if first_token_s is None:
                    first_token_s = time.perf_counter() - start
                text += chunk.content
            if chunk.usage_metadata:  # the last chunk carries usage (stream_usage=True)
                usage = chunk.usage_metadata
            finish_reason = chunk.response_metadata.get("finish_reason") or finish_reason
    except Exception as exc:  # one endpoint failing does not stop the others
        print(f"{{name}}: failed after {{time.perf_counter() - start:.3f}} s: {{exc!r}}")
        return
    first = "no text" if first_token_s is None else f"{{first_token_s:.3f}} s"
    print(f"{{name}}: first token {{first}}, total {{time.perf_counter() - start:.3f}} s, "
          f"finish reason {{finish_reason}}, usage {{usage}}")
    print(f"    {{text!r}}")


async def main() -> None:
{_ASYNC_CLIENT_NOTE}
    async with httpx.AsyncClient() as http:
        endpoints = {{
{models}
        }}
        # One astream per endpoint, all at once: the answers stream side by side.
        await asyncio.gather(*(stream_one(name, llm) for name, llm in endpoints.items()))


asyncio.run(main())
'''


def chat_code(
    settings: ModelSettings,
    endpoint: Endpoint,
    system_prompt: str,
    strategy: str,
    *,
    budget_tokens: int = 300,
    keep_turns: int = 2,
    questions: tuple[str, ...] = ("My name is Ada. Say hello.", "What is 2 + 2?", "What is my name?"),
) -> str:
    """A script that holds a conversation with the page's history strategy and prints, per turn,
    input tokens (cached vs new, from ``usage_metadata``) and time to first token.

    `strategy` is a `core.patterns.chat_history.Strategy` value: "Keep everything", "Trim to a token
    budget" or "Summarise older turns".
    """
    from core.settings import Provider

    if strategy.startswith("Trim"):
        counter = "llm" if endpoint.direct.provider is Provider.OPENAI else "count_tokens_approximately"
        note = ("# tiktoken, as ChatOpenAI counts" if counter == "llm"
                else "# LangChain's own estimate: this endpoint's tokenizer is not in LangChain")
        prepare = f"""
        messages = trim_messages(
            messages, max_tokens={budget_tokens}, token_counter={counter},  {note}
            strategy="last", include_system=True, start_on="human",
        )"""
    elif strategy.startswith("Summarise"):
        prepare = f"""
        older, recent = history[: max(len(history) - {2 * keep_turns}, 0)], history[max(len(history) - {2 * keep_turns}, 0):]
        if older:  # one more model call: it is billed too
            transcript = "\\n".join(f"{{m.type}}: {{m.content}}" for m in older)
            summary = llm.invoke("Summarise this conversation in at most three sentences. Keep names, "
                                 "numbers and facts the user gave.\\n\\n" + transcript).content
            messages = [system, SystemMessage("Summary of the conversation so far: " + summary),
                        *recent, HumanMessage(question)]"""
    else:
        prepare = ""
    body = f"""
    import time

    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages
    from langchain_core.messages.utils import count_tokens_approximately

    system = SystemMessage({system_prompt!r})
    history = []  # every exchange so far: HumanMessage, AIMessage, ...
    for turn, question in enumerate({list(questions)!r}, start=1):
        messages = [system, *history, HumanMessage(question)]{prepare}
        start = time.perf_counter()
        first_token_at, answer, usage = None, "", None
        for chunk in llm.stream(messages):
            if chunk.content and first_token_at is None:
                first_token_at = time.perf_counter() - start
            answer += chunk.content
            if chunk.usage_metadata:  # the last chunk carries usage (stream_usage=True)
                usage = chunk.usage_metadata
        history += [HumanMessage(question), AIMessage(answer)]
        cached = (usage.get("input_token_details") or {{}}).get("cache_read") if usage else None
        print(f"turn {{turn}}: {{answer!r}}")
        print(f"  input tokens: {{usage['input_tokens'] if usage else 'not reported'}}"
              f" (cached: {{'not reported' if cached is None else cached}})"
              f", time to first token: {{first_token_at:.3f}} s")
    """
    return model_setup_code(settings, endpoint) + "\n" + textwrap.dedent(body)


def structured_code(
    settings: ModelSettings, endpoint: Endpoint, schema: dict[str, Any], prompt: str, method: str,
    include_raw: bool = False,
) -> str:
    """A script that streams `with_structured_output` and prints the object as it grows.

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://localhost:1/v1", model="m")
        >>> code = structured_code(s, resolve_endpoint(s, None), {"title": "T", "type": "object"}, "hi", "json_schema")
        >>> 'method="json_schema"' in code and "stream(" in code
        True
    """
    import json

    schema_text = textwrap.indent(json.dumps(schema, indent=4), "    ").lstrip()
    raw = ", include_raw=True" if include_raw else ""
    loop = (
        """
    # include_raw=True: LangChain gathers the whole message before parsing, so the object
    # arrives once, with the raw message and the parse error (returned, not raised).
    result = {{}}
    for part in structured.stream({prompt!r}):
        result.update(part)
    print(result["raw"].content)
    print("parsed:", result.get("parsed"), "parsing_error:", result.get("parsing_error"))
    """
        if include_raw
        else """
    # A dict schema is parsed by JsonOutputParser: every chunk that changes the object yields it.
    for partial in structured.stream({prompt!r}):
        print(partial)
    """
    ).format(prompt=prompt)
    body = f"""
    schema = {schema_text}
    structured = llm.with_structured_output(schema, method="{method}"{raw})
    """
    return model_setup_code(settings, endpoint) + "\n" + textwrap.dedent(body) + textwrap.dedent(loop)


_LOAD_GAPS = {
    "constant": "1 / RATE  # evenly spaced",
    "poisson": "rng.expovariate(RATE)  # Poisson arrivals: exponential gaps",
    "gamma": "rng.gammavariate(SHAPE, 1 / (RATE * SHAPE))  # gamma gaps: shape < 1 is burstier",
}


def load_code(
    settings: ModelSettings,
    endpoint: Endpoint,
    prompts: list[str],
    *,
    rate_per_s: float,
    requests: int,
    arrival: str = "poisson",
    burstiness: float = 1.0,
    max_in_flight: int | None = None,
    seed: int = 0,
) -> str:
    """An open-loop load in plain asyncio + ChatOpenAI: requests arrive at a rate, each streamed.

    Prints the rate that arrived against the target, the requests completed, and TTFT and e2e
    p50/p90 of the successful ones (failed requests are counted, never averaged).

    Example:
        >>> from core.settings import Provider
        >>> from core.call.models import resolve_endpoint
        >>> s = ModelSettings(provider=Provider.COMPATIBLE, base_url="http://h:1/v1", model="m")
        >>> code = load_code(s, resolve_endpoint(s, None), ["Hi"], rate_per_s=2, requests=10)
        >>> "rng.expovariate(RATE)" in code and "asyncio.create_task" in code
        True
    """
    if arrival not in _LOAD_GAPS:
        raise ValueError(f"unknown arrival {arrival!r}")
    return f"""\
import asyncio
import contextlib
import os
import random
import time

import httpx
from langchain_openai import ChatOpenAI

PROMPTS = {list(prompts)!r}
RATE = {rate_per_s!r}  # requests a second
REQUESTS = {requests!r}
SHAPE = {burstiness!r}  # gamma only
MAX_IN_FLIGHT = {max_in_flight!r}  # None = no cap: an open loop
SEED = {seed!r}


def percentile(values, p):
    \"\"\"Linear interpolation between closest ranks (numpy's default).\"\"\"
    if not values:
        return None
    values = sorted(values)
    rank = (len(values) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


async def one_request(llm, prompt, cap, results):
    async with cap:  # with a cap, a request waits here: the client's queue, not the server's
        sent = time.perf_counter()
        first = None
        try:
            async for chunk in llm.astream(prompt):
                if chunk.content and first is None:
                    first = time.perf_counter() - sent  # time to first token
            results.append((first, time.perf_counter() - sent, None))
        except Exception as exc:  # a failed request counts against goodput, never as a latency
            results.append((None, None, exc))


async def main() -> None:
    rng = random.Random(SEED)
    results = []
{_ASYNC_CLIENT_NOTE}
    async with httpx.AsyncClient() as http:
{_chat_openai_lines(settings, endpoint, " " * 8, http_async_client="http")}
        cap = asyncio.Semaphore(MAX_IN_FLIGHT) if MAX_IN_FLIGHT else contextlib.nullcontext()
        tasks = []
        start = time.perf_counter()
        due = 0.0
        for index in range(REQUESTS):
            # Open loop: wait for this request's arrival time, not for earlier answers.
            await asyncio.sleep(max(0.0, start + due - time.perf_counter()))
            if index == 0:
                first_sent = time.perf_counter()
            last_sent = time.perf_counter()
            tasks.append(asyncio.create_task(one_request(llm, PROMPTS[index % len(PROMPTS)], cap, results)))
            due += {_LOAD_GAPS[arrival]}
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    ok = [(ttft, e2e) for ttft, e2e, error in results if error is None]
    if REQUESTS > 1 and last_sent > first_sent:
        print(f"arrived: {{(REQUESTS - 1) / (last_sent - first_sent):.2f}} req/s (target {{RATE}})")
    print(f"completed: {{len(ok)}} of {{REQUESTS}} in {{wall:.2f}} s = {{len(ok) / wall:.2f}} req/s")
    for name, values in (("TTFT", [t for t, _ in ok if t is not None]), ("e2e", [e for _, e in ok])):
        p50, p90 = percentile(values, 50), percentile(values, 90)
        if p50 is not None:
            print(f"{{name}}: p50 {{p50:.3f}} s, p90 {{p90:.3f}} s")
    for _, _, error in results:
        if error is not None:
            print("failed:", type(error).__name__, str(error)[:120])


asyncio.run(main())
"""
