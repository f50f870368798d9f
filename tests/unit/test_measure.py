"""Repeated runs off the script thread, and their export (fake models: pure logic only)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from core.patterns.measure import MeasureInputError, MeasureJob, check_counts, runs_to_csv, runs_to_json

SECRET = "sk-test-abcdefghijklmnop"


class FlakyModel(GenericFakeChatModel):
    """Answers, except on the calls listed in `fail_on` (1-based), which raise mid-call."""

    fail_on: set[int] = Field(default_factory=set)
    calls: int = 0

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError(f"upstream reset (key {SECRET})")
        yield from super()._stream(*args, **kwargs)


def _model(n: int, fail_on: set[int] | None = None) -> FlakyModel:
    return FlakyModel(messages=iter([AIMessage(content="one two three four")] * n), fail_on=fail_on or set())


def _run(job: MeasureJob) -> None:
    job.start().join(timeout=30)
    assert not job.running


@pytest.mark.parametrize(
    ("runs", "warmup", "message"),
    [(0, 1, "N must be at least 1"), (None, 1, "whole number"), (2.5, 0, "whole number"),
     (5, -1, "Warm-up runs must be at least 0"), (10_000, 0, "at most")],
)
def test_bad_counts_are_refused_with_a_message(runs: object, warmup: object, message: str) -> None:
    with pytest.raises(MeasureInputError, match=message):
        check_counts(runs, warmup)


def test_an_empty_prompt_is_refused() -> None:
    with pytest.raises(MeasureInputError, match="Type a prompt"):
        MeasureJob(lambda: _model(1), "   ", runs=1)


def test_warmup_runs_are_made_and_discarded() -> None:
    model = _model(5)
    job = MeasureJob(lambda: model, "Count", runs=3, warmup=2)
    _run(job)
    snapshot = job.snapshot()
    assert model.calls == 5
    assert (snapshot.warmup_done, snapshot.done, snapshot.phase.value, snapshot.progress) == (2, 3, "done", 1.0)
    assert all(r.text == "one two three four" for r in snapshot.records)


def test_a_failed_call_is_a_run_counted_apart_and_redacted_in_exports() -> None:
    model = _model(4, fail_on={2})
    job = MeasureJob(lambda: model, "Count", runs=3, warmup=0, secrets=(SECRET,),
                     endpoint="Local · SmolLM2", model="SmolLM2")
    _run(job)
    snapshot = job.snapshot()
    summary = snapshot.summary()
    assert (summary.calls, summary.failed, summary.succeeded) == (3, 1, 2)
    assert summary.distributions["e2e_s"].count == 2
    # Fake models report no usage: tokens are chunks counted, and the summary says so.
    assert summary.usage_missing == 2 and "text chunks" in summary.token_note

    rows = list(csv.DictReader(io.StringIO(runs_to_csv(snapshot.records, SECRET))))
    assert [r["ok"] for r in rows] == ["True", "False", "True"]
    assert rows[1]["ttft_s"] == "" and rows[1]["error"]  # not reported, never 0
    assert rows[0]["token_source"] == "chunks" and rows[0]["chunk_times_s"]

    document = runs_to_json(snapshot, SECRET)
    assert SECRET not in document
    data = json.loads(document)
    assert data["endpoint"] == "Local · SmolLM2" and data["model"] == "SmolLM2"
    assert {d["metric"] for d in data["definitions"]} >= {"TTFT", "ITL", "TPOT", "e2e latency", "Goodput"}
    assert all(o["repo"] and o["path"] and o["commit"] for d in data["definitions"] for o in d["others"])
    assert data["summary"]["failed"] == 1
    assert data["summary"]["metrics"]["ttft_s"]["p90"] is None
    assert data["summary"]["metrics"]["ttft_s"]["p90_needs"] == 10
    assert len(data["runs"]) == 3 and data["runs"][0]["chunk_times_s"]


def test_a_broken_model_factory_stops_the_job_with_its_reason() -> None:
    def broken() -> FlakyModel:
        raise RuntimeError(f"no model here {SECRET}")

    job = MeasureJob(broken, "Count", runs=2, warmup=0, secrets=(SECRET,))
    _run(job)
    snapshot = job.snapshot()
    assert snapshot.phase.value == "failed" and "no model here" in snapshot.problem
    assert SECRET not in snapshot.problem


def test_cancel_keeps_the_finished_runs() -> None:
    model = _model(50)
    job = MeasureJob(lambda: model, "Count", runs=50, warmup=0)
    job.cancel()  # before the first call: nothing runs, nothing is invented
    _run(job)
    assert job.snapshot().phase.value == "cancelled" and job.snapshot().done == 0
