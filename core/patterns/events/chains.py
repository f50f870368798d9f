"""Chains to watch: what the Streaming events page offers, each a small LCEL chain on one model.

Each `ChainSpec` says what the chain shows (a tool, parallel branches, custom progress events);
`build_chain(key, llm)` builds one by its key.
"""

from __future__ import annotations

from collections.abc import (
    Callable,
)
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnableParallel

from core.patterns.agent import DEFAULT_MAX_STEPS, agent_chain, make_answer_stats_tool

JOKE_PROMPT = "Tell me a joke about {topic}."
HAIKU_PROMPT = "Write a haiku about {topic}."
TAKES: tuple[tuple[str, str], ...] = (
    ("joke", "Tell me a one-line joke about {topic}."),
    ("fact", "Tell me one surprising fact about {topic}, in one sentence."),
    ("haiku", "Write a haiku about {topic}."),
)


def _as_tool_input(text: str) -> dict[str, str]:
    # A tool called with a dict reports it as `input` in on_tool_start; called with a bare
    # string it reports an empty input, which would hide what the tool was given.
    return {"text": text}


def joke_chain(llm: BaseChatModel) -> Runnable:
    """prompt → model → output parser: the concept note's joke about `{topic}`."""
    return ChatPromptTemplate.from_template(JOKE_PROMPT) | llm | StrOutputParser()


def joke_with_tool_chain(llm: BaseChatModel, *, fail_tool: bool = False) -> Runnable:
    """The joke chain, then the real `answer_stats` tool on its answer."""
    return (
        joke_chain(llm)
        | RunnableLambda(_as_tool_input, name="as_tool_input")
        | make_answer_stats_tool(fail=fail_tool)
    )


def parallel_chain(llm: BaseChatModel) -> Runnable:
    """A joke and a haiku about `{topic}` from two model calls running at the same time."""
    return RunnableParallel(
        joke=ChatPromptTemplate.from_template(JOKE_PROMPT) | llm | StrOutputParser(),
        haiku=ChatPromptTemplate.from_template(HAIKU_PROMPT) | llm | StrOutputParser(),
    )


def progress_chain(llm: BaseChatModel) -> Runnable:
    """A step that writes three takes on `{topic}` in turn, sending a progress event after each."""

    async def three_takes(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, str]:
        total = len(TAKES)
        await adispatch_custom_event(
            "progress", {"done": 0, "total": total, "label": "starting"}, config=config
        )
        answers: dict[str, str] = {}
        for done, (kind, template) in enumerate(TAKES, start=1):
            take = ChatPromptTemplate.from_template(template) | llm | StrOutputParser()
            answers[kind] = await take.ainvoke(inputs, config=config)
            await adispatch_custom_event(
                "progress", {"done": done, "total": total, "label": f"wrote the {kind}"},
                config=config,
            )
        return answers

    return RunnableLambda(three_takes, name="three_takes")


@dataclass(frozen=True)
class ChainSpec:
    """A chain the page offers: its title, one-sentence explanation and builder."""

    key: str
    title: str
    explanation: str
    build: Callable[..., Runnable]
    has_tool: bool = False
    agent: bool = False


CHAINS: dict[str, ChainSpec] = {
    spec.key: spec
    for spec in (
        ChainSpec(
            "joke",
            "Prompt → model → parser",
            "The concept note's joke about a topic: the smallest chain where every step reports "
            "its start, its streamed pieces and its end.",
            lambda llm, **_: joke_chain(llm),
        ),
        ChainSpec(
            "tool",
            "… plus a tool step",
            "The same chain, then a real `@tool` (`answer_stats`) counts the answer's words and "
            "sentences, so `on_tool_start` and `on_tool_end` appear.",
            lambda llm, *, fail_tool=False, **_: joke_with_tool_chain(llm, fail_tool=fail_tool),
            has_tool=True,
        ),
        ChainSpec(
            "agent",
            "The model calls tools (agent loop)",
            "`bind_tools` and a loop: the model streams a tool call (`tool_call_chunks`), the tool "
            "runs with the arguments the model chose (`on_tool_start` / `on_tool_end`), its answer "
            "goes back as a `ToolMessage`, and a second model call answers. The first call is "
            "forced to use a tool (`tool_choice=\"required\"`); the loop stops at a step limit.",
            lambda llm, *, fail_tool=False, forcing=None, max_steps=None, **_: _agent(
                llm, fail_tool=fail_tool, forcing=forcing, max_steps=max_steps),
            has_tool=True,
            agent=True,
        ),
        ChainSpec(
            "parallel",
            "Two model calls in parallel",
            "A `RunnableParallel` asks for a joke and a haiku at the same time: two model runs "
            "stream side by side under one parent.",
            lambda llm, **_: parallel_chain(llm),
        ),
        ChainSpec(
            "progress",
            "Custom progress events",
            "One step asks for a joke, a fact and a haiku in turn and announces each with "
            "`adispatch_custom_event` — the kind of event that drives a progress bar.",
            lambda llm, **_: progress_chain(llm),
        ),
    )
}


def _agent(llm: BaseChatModel, *, fail_tool: bool, forcing: dict[str, Any] | None, max_steps: int | None) -> Runnable:
    return agent_chain(llm, fail_tool=fail_tool, forcing=forcing, max_steps=max_steps or DEFAULT_MAX_STEPS)


def build_chain(key: str, llm: BaseChatModel, *, fail_tool: bool = False, **options: Any) -> Runnable:
    """Build one of `CHAINS` around `llm` (a fresh `ChatOpenAI` per run).

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> fake = GenericFakeChatModel(messages=iter([]))
        >>> type(build_chain("parallel", fake)).__name__
        'RunnableParallel'
    """
    return CHAINS[key].build(llm, fail_tool=fail_tool, **options)
