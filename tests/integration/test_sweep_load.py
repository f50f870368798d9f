"""Load figures of a concurrency sweep: streamed rows give TTFT, failures count against goodput."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.batch import JobStatus, JobStore, RowStatus, RunOptions, run_job, start_sweep
from core.batch.sweep_load import all_failed, goodput_peak, load_points
from core.call.models import Endpoint, build_chat_model
from core.call.stats import Slo
from core.settings import ModelSettings

# Real calls on 2 shared cores: generous, because the figures are tested, not the speed.
pytestmark = pytest.mark.timeout(1200)

QUESTIONS = ["What is the capital of France?", "What is 2 + 2?", "Name a colour."]
TOO_LONG = "hello " * 2100  # over the embedded model's context: refused at once (HTTP 400)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "batch.sqlite3")


def _sweep(store: JobStore, prompts: list[str], levels: list[int], make_llm) -> str:
    sweep_id = start_sweep(store, prompts, levels, make_llm, RunOptions(), source="test",
                           endpoint="Local", model="m")
    deadline = time.monotonic() + 1100
    while not store.sweep(sweep_id).status.finished:
        assert time.monotonic() < deadline, "sweep did not finish"
        time.sleep(0.1)
    return sweep_id


def test_a_streamed_sweep_observes_ttft_and_counts_failures(
    store: JobStore, local_settings: ModelSettings, local_endpoint: Endpoint
) -> None:
    settings = local_settings.with_changes(max_tokens=6, max_retries=0, timeout_s=600)
    sweep_id = _sweep(store, [QUESTIONS[0], TOO_LONG, QUESTIONS[1]], [1, 2],
                      lambda: build_chat_model(settings, local_endpoint, streaming=True))
    points = load_points(store, store.sweep(sweep_id))
    assert [p.concurrency for p in points] == [1, 2]
    for point in points:
        assert (point.calls, point.failed, point.streamed) == (3, 1, 2)
        summary = point.summary
        ttft = summary.distributions["ttft_s"]
        assert ttft.count == 2 and all(0 < t <= e for t, e in zip(sorted(ttft.values), sorted(summary.distributions["e2e_s"].values), strict=True))
        assert summary.usage_missing == 0  # streamed with stream_usage=True: usage still reported
        assert point.request_throughput and point.output_token_throughput
        generous = point.goodput(Slo(e2e_s=600))
        assert (generous.good, generous.calls) == (2, 3)  # the refused call is not good
    assert goodput_peak(points, Slo(e2e_s=600)) in points
    assert goodput_peak(points, Slo(ttft_ms=0.001)) is None
    assert not all_failed(points)


def test_rows_invoked_whole_have_latency_but_no_ttft(
    store: JobStore, local_settings: ModelSettings, local_endpoint: Endpoint
) -> None:
    settings = local_settings.with_changes(max_tokens=4, max_retries=0, timeout_s=600)
    sweep_id = _sweep(store, QUESTIONS[:2], [1], lambda: build_chat_model(settings, local_endpoint))
    (point,) = load_points(store, store.sweep(sweep_id))
    assert point.streamed == 0 and point.failed == 0
    assert point.summary.distributions["ttft_s"].count == 0
    assert point.summary.distributions["e2e_s"].count == 2
    assert point.goodput(Slo(ttft_ms=10_000)).good == 0  # unobserved is not good


def test_a_sweep_whose_every_call_failed_is_recognised(
    store: JobStore, local_settings: ModelSettings, local_endpoint: Endpoint
) -> None:
    settings = local_settings.with_changes(max_tokens=4, max_retries=0, timeout_s=600)
    sweep_id = _sweep(store, [TOO_LONG, TOO_LONG], [1, 2],
                      lambda: build_chat_model(settings, local_endpoint, streaming=True))
    sweep = store.sweep(sweep_id)
    assert sweep.status is JobStatus.DONE
    points = load_points(store, sweep)
    assert all_failed(points)
    assert all(p.request_throughput is None and p.output_token_throughput is None for p in points)
    assert goodput_peak(points, Slo(e2e_s=60)) is None
    # Nothing is lost: every row is still in the store with its error.
    assert all(r.status is RowStatus.FAILED and r.error for p in sweep.points for r in store.rows(p.job.id))


def test_marks_of_a_row_are_kept_in_the_store(store: JobStore) -> None:
    job_id = store.create_job(["a"], source="t", endpoint="e", model="m", max_concurrency=1)
    store.save_marks(job_id, 0, [0.1234567, 0.2])
    assert store.row_marks(job_id) == {0: [0.123457, 0.2]}
    store.delete_job(job_id)
    assert store.row_marks(job_id) == {}


def test_run_job_on_a_plain_batch_stores_no_marks(
    store: JobStore, local_settings: ModelSettings, local_endpoint: Endpoint
) -> None:
    job_id = store.create_job(QUESTIONS[:1], source="t", endpoint="e", model="m", max_concurrency=1)
    run_job(store, job_id, build_chat_model(local_settings.with_changes(max_tokens=3), local_endpoint),
            RunOptions(max_concurrency=1))
    assert store.rows(job_id)[0].status is RowStatus.DONE and store.row_marks(job_id) == {}
