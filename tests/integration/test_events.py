"""The events recorder against the real embedded model; LangChain fakes only for filter logic."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest

from core.call.models import build_chat_model
from core.money.ledger import SessionLedger
from core.patterns.events import (
    EventRecorder,
    build_chain,
    fresh_async_http_client,
    stream_events,
)


@pytest.fixture
def watch(local_settings, local_endpoint):
    """watch(chain_key, **kw) → the recorder after running that chain on the embedded model."""

    def _watch(key: str, *, fail_tool: bool = False, llm=None, config=None, stop_after=None):
        http = fresh_async_http_client()
        model = llm or build_chat_model(
            local_settings, local_endpoint, http_async_client=http, max_tokens=10
        )
        recorder = EventRecorder()
        events = stream_events(
            build_chain(key, model, fail_tool=fail_tool), {"topic": "cats"}, config,
            http_clients=(http,),
        )
        for n, _ in enumerate(recorder.watch(events), start=1):
            if stop_after is not None and n >= stop_after:
                break
        return recorder

    return _watch


def test_every_event_is_recorded_in_order_with_parentage_and_monotonic_stamps(watch) -> None:
    ledger = SessionLedger()
    recorder = watch("joke", config={"callbacks": [ledger.callback(pattern="events", provider="Local")]})
    events = recorder.events
    assert recorder.ok and recorder.error is None
    assert [e.index for e in events] == list(range(len(events)))
    stamps = [e.at_s for e in events]
    assert stamps == sorted(stamps) and stamps[-1] <= recorder.total_s
    # The root chain opens and closes the stream; every step nests directly under it.
    root = events[0]
    assert (root.event, root.parent_ids) == ("on_chain_start", ())
    assert (events[-1].event, events[-1].run_id) == ("on_chain_end", root.run_id)
    started: set[str] = set()
    for e in events:
        if e.event.endswith("_start"):
            started.add(e.run_id)
        assert e.run_id in started, f"{e.event} before its run started"
        if e.run_id != root.run_id:
            assert e.parent_ids == (root.run_id,)
    # Counts per type add up to exactly what was recorded.
    counts = recorder.counts()
    assert counts == dict(Counter(e.event for e in events))
    assert sum(counts.values()) == len(events)
    assert counts["on_chat_model_stream"] > 1 and counts["on_chat_model_end"] == 1
    # Spans: the chain, then prompt, model and parser one level down, each finished.
    spans = recorder.spans()
    assert [(s.run_type, s.depth) for s in spans] == [
        ("chain", 0), ("prompt", 1), ("chat_model", 1), ("parser", 1)
    ]
    assert all(s.finished and s.end_s >= s.start_s for s in spans)
    model = spans[2]
    assert len(model.ticks_s) == counts["on_chat_model_stream"]
    assert model.start_s <= model.ticks_s[0] and model.ticks_s[-1] <= model.end_s
    assert 0 < recorder.first_chunk_s < recorder.total_s
    # The model call landed in the session ledger.
    assert [r.pattern for r in ledger.records()] == ["events"]
    # Summaries say what went in, each chunk's text, and what came out.
    by_type = {e.event: e for e in events}
    assert by_type["on_chain_start"].summary == "in: topic=“cats”"
    assert "human: “Tell me a joke about cats.”" in by_type["on_chat_model_start"].summary
    end = by_type["on_chat_model_end"].summary
    assert end.startswith("out: ai: “") and "usage" in end and "finish_reason=" in end
    chunks = [e for e in events if e.event == "on_chat_model_stream" and e.data["chunk"].content]
    assert all(e.summary == repr(e.data["chunk"].content) for e in chunks)
    # The exports hold every event.
    lines = recorder.to_jsonl().splitlines()
    assert [json.loads(line)["event"] for line in lines] == [e.event for e in events]
    model_start = json.loads(lines[by_type["on_chat_model_start"].index])
    assert model_start["data"]["input"]["messages"][0][0]["content"] == "Tell me a joke about cats."
    rows = list(csv.DictReader(io.StringIO(recorder.to_csv())))
    assert [r["event"] for r in rows] == [e.event for e in events]


def test_parallel_model_calls_run_side_by_side_under_one_parent(watch) -> None:
    recorder = watch("parallel")
    spans = recorder.spans()
    root = spans[0]
    branches = [s for s in spans if s.parent_id == root.run_id]
    models = [s for s in spans if s.run_type == "chat_model"]
    assert len(branches) == 2 and len(models) == 2
    assert {m.parent_id for m in models} == {b.run_id for b in branches}
    assert all(m.depth == 2 for m in models)
    # Concurrent, not one after the other: both model calls started before either ended.
    first_end = min(m.end_s for m in models)
    assert all(m.start_s < first_end for m in models)


def test_custom_progress_events_are_recorded_on_the_step_that_sent_them(watch) -> None:
    recorder = watch("progress")
    custom = [e for e in recorder.events if e.event == "on_custom_event"]
    assert [e.data["done"] for e in custom] == [0, 1, 2, 3]
    assert recorder.progress() == (3, 3, "wrote the haiku")
    step = recorder.spans()[0]
    assert step.name == "three_takes" and [name for _, name in step.custom] == ["progress"] * 4
    assert recorder.counts()["on_chat_model_start"] == 3


def test_a_tool_that_raises_is_captured_with_its_step_and_earlier_events_stay(watch) -> None:
    recorder = watch("tool", fail_tool=True)
    assert recorder.error is not None and not recorder.ok
    assert recorder.error.kind == "step_failed"
    assert recorder.error_step == "answer_stats"
    assert "failed on purpose" in recorder.error.detail
    kinds = [e.event for e in recorder.events]
    assert kinds[-2:] == ["on_tool_start", "on_tool_error"]
    assert "on_chat_model_end" in kinds  # everything before the failure is kept
    assert recorder.events[-1].summary.startswith("error: ValueError")
    spans = {s.name: s for s in recorder.spans()}
    assert spans["answer_stats"].failed
    assert not spans["RunnableSequence"].finished  # the error cut the chain short


def test_a_successful_tool_step_reports_start_and_end(watch) -> None:
    recorder = watch("tool")
    assert recorder.ok
    tool_events = [e for e in recorder.events if e.run_type == "tool"]
    assert [e.event for e in tool_events] == ["on_tool_start", "on_tool_end"]
    assert set(tool_events[1].data["output"]) == {"words", "characters", "sentences"}


def test_a_failing_model_endpoint_is_captured_with_the_model_step(local_settings, local_endpoint, watch) -> None:
    dead = build_chat_model(
        local_settings, local_endpoint, base_url="http://127.0.0.1:9/v1", max_retries=0
    )
    recorder = watch("joke", llm=dead)
    assert recorder.error is not None and recorder.error.kind == "connection"
    assert recorder.error_step == "ChatOpenAI"
    assert [e.event for e in recorder.events][-1] == "on_chat_model_start"
    assert recorder.events[0].event == "on_chain_start"


def test_stopping_early_closes_the_run_and_the_next_run_works(watch) -> None:
    stopped = watch("joke", stop_after=6)
    assert stopped.interrupted and not stopped.ok and len(stopped.events) == 6
    again = watch("joke")
    assert again.ok and again.events[-1].event == "on_chain_end"
