"""The events recorder against the real embedded model; LangChain fakes only for filter logic."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from core.patterns.events import (
    EventFilter,
    EventRecorder,
)


def test_receipt_stamps_come_from_the_clock() -> None:
    ticks = itertools.count(0.0, 0.25)
    recorder = EventRecorder(clock=lambda: next(ticks))
    raw = [{"event": "on_chain_start", "name": "x", "run_id": "r", "parent_ids": [], "data": {}}] * 3
    assert [e.at_s for e in recorder.watch(raw)] == [0.25, 0.5, 0.75]


# -- filters: the same rules as astream_events' own include/exclude options -----------------

def _fake_chain():
    from langchain_core.callbacks import adispatch_custom_event
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda

    async def announce(text: str, config) -> str:
        await adispatch_custom_event("progress", {"done": 1}, config=config)
        return text

    fake = GenericFakeChatModel(messages=iter([AIMessage(content="a b c")] * 2))
    chain = (
        ChatPromptTemplate.from_template("about {topic}")
        | fake.with_config(tags=["model"])
        | StrOutputParser()
        | RunnableLambda(announce, name="announce")
    )
    return chain


FILTERS = [
    EventFilter(include_types=("chat_model",)),
    EventFilter(include_names=("announce", "progress")),
    EventFilter(include_types=("prompt",), include_names=("StrOutputParser",)),
    EventFilter(exclude_types=("chain",)),
    EventFilter(exclude_names=("GenericFakeChatModel",), exclude_types=("parser",)),
    EventFilter(include_tags=("model",)),
    EventFilter(include_types=("progress",)),  # a custom event's type is its name
]


@pytest.mark.parametrize("chosen", FILTERS, ids=lambda f: str(f.api_kwargs()))
def test_filters_keep_exactly_what_the_api_options_would(chosen: EventFilter) -> None:
    async def sequence(**options):
        return [
            (e["event"], e["name"])
            async for e in _fake_chain().astream_events({"topic": "x"}, version="v2", **options)
        ]

    recorder = EventRecorder()
    everything = asyncio.run(sequence())
    for event, name in everything:
        recorder.record({"event": event, "name": name, "run_id": "r", "parent_ids": [],
                         "tags": ["model"] if name == "GenericFakeChatModel" else []})
    kept = [(e.event, e.name) for e in chosen.apply(recorder.events)]
    assert kept == asyncio.run(sequence(**chosen.api_kwargs()))
    assert 0 < len(kept) < len(everything)


def test_empty_widget_selections_mean_no_option() -> None:
    chosen = EventFilter.from_choices(include_types=[], exclude_names=["ChatOpenAI"])
    assert chosen.api_kwargs() == {"exclude_names": ["ChatOpenAI"]}
    assert chosen.matches({"event": "on_chain_start", "name": "RunnableSequence"})
