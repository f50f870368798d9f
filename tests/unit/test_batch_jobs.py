"""The durable batch job: store + background runner against the real embedded model.

Few rows, 8 output tokens, temperature 0: these tests are about what is kept and how, never
about what the model says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.batch import (
    JobStatus,
    JobStore,
    RowStatus,
    RunOptions,
    run_job,
)

QUESTIONS = ["What is the capital of France?", "What is 2 + 2?", "Who wrote Romeo and Juliet?"]
@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "batch.sqlite3")


def test_a_job_left_running_by_a_stopped_app_is_shown_interrupted_with_its_rows_kept(store: JobStore) -> None:
    job_id = store.create_job(QUESTIONS, source="test", endpoint="Local", model="m", max_concurrency=2)
    store.save_row(job_id, 0, status=RowStatus.DONE, output="Paris.")
    store.mark_row_running(job_id, 1)
    store.mark_job_running(job_id)  # by this process, which then stops running it (as a stop would)

    job = store.job(job_id)
    assert job.status is JobStatus.INTERRUPTED and "retry the rest" in job.problem
    rows = store.rows(job_id)
    assert rows[0].status is RowStatus.DONE and rows[0].output == "Paris."
    assert [r.status for r in rows[1:]] == [RowStatus.CANCELLED, RowStatus.CANCELLED]
    assert "app stopped" in rows[1].error


def test_each_row_config_merges_the_page_config_with_the_row_tracker(store: JobStore) -> None:
    """The page's callbacks, tags and metadata reach every row's call beside the job's own."""
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    class Seen(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts: list[tuple[list[str], dict[str, Any]]] = []

        def on_chat_model_start(self, serialized, messages, *, tags=None, metadata=None, **kw):
            self.starts.append((sorted(tags or []), dict(metadata or {})))

    seen = Seen()
    job_id = store.create_job(["a", "b"], source="test", endpoint="fake", model="fake", max_concurrency=2)
    options = RunOptions(
        max_concurrency=2,
        config={"callbacks": [seen], "tags": ["lab:batch"], "metadata": {"page": "batch"}},
    )
    info = run_job(store, job_id, FakeListChatModel(responses=["x", "y"]), options)
    assert info.counts == {RowStatus.DONE: 2}
    assert len(seen.starts) == 2
    rows_seen = sorted(meta["batch_row"] for _, meta in seen.starts)
    assert rows_seen == [0, 1]
    for tags, meta in seen.starts:
        assert "lab:batch" in tags and meta["page"] == "batch" and meta["batch_job"] == job_id
    assert options.config == {"callbacks": [seen], "tags": ["lab:batch"], "metadata": {"page": "batch"}}


OLD_STORE = Path(__file__).parent / "data" / "batch-before-job-kinds.sqlite3"


def test_a_data_file_made_before_job_kinds_opens_with_its_jobs_and_sweeps_told_apart(tmp_path: Path) -> None:
    """The file was written by the store as it was before kinds were saved (one batch job with a
    done and a failed row; one sweep of two levels): opening it keeps everything, tells each
    run's kind from the stored column, and new jobs go in beside the old ones."""
    import shutil

    from core.batch import RunKind

    path = tmp_path / "batch.sqlite3"
    shutil.copyfile(OLD_STORE, path)
    store = JobStore(path)

    (old_job,) = store.recent_jobs()  # the sweep's levels are not listed as saved jobs
    assert old_job.kind is RunKind.BATCH and old_job.status is JobStatus.DONE
    assert [r.status for r in store.rows(old_job.id)] == [RowStatus.DONE, RowStatus.FAILED]
    assert store.rows(old_job.id)[0].output == "4" and store.rows(old_job.id)[1].error_kind == "timeout"
    sweep_id = store.latest_sweep_id()
    assert sweep_id is not None and store.kind_of(sweep_id) is RunKind.SWEEP
    sweep = store.sweep(sweep_id)
    assert [p.concurrency for p in sweep.points] == [1, 2]
    assert {p.job.kind for p in sweep.points} == {RunKind.SWEEP_LEVEL}

    new_id = store.create_job(["Who wrote Hamlet?"], source="test", endpoint="Local", model="m", max_concurrency=1)
    assert [j.id for j in store.recent_jobs()] == [new_id, old_job.id]
    assert JobStore(path).kind_of(new_id) is RunKind.BATCH  # opening it again migrates nothing twice


BEFORE_OWNERS = Path(__file__).parent / "data" / "batch-before-owners.sqlite3"


def test_a_data_file_made_before_worker_tokens_and_owners_opens_and_its_stuck_job_is_interrupted(
    tmp_path: Path,
) -> None:
    """Written by the store as it was before worker tokens, visitors' owners and shared jobs:
    a finished job, a job left "running" under process id 1 (alive on every machine: the store
    then showed it running forever), a finished sweep of two levels. It opens with everything
    kept; the stuck job is interrupted; old jobs have no owner, so only a lab that lists every
    job (served on this machine alone) shows them."""
    import shutil

    path = tmp_path / "batch.sqlite3"
    shutil.copyfile(BEFORE_OWNERS, path)
    store = JobStore(path)

    stuck, done = store.recent_jobs()
    assert stuck.status is JobStatus.INTERRUPTED and done.status is JobStatus.DONE
    assert [r.status for r in store.rows(done.id)] == [RowStatus.DONE, RowStatus.FAILED]
    assert store.rows(stuck.id)[0].status is RowStatus.CANCELLED
    assert (done.owner, done.shared) == (None, False)
    assert store.recent_jobs(visible_to="a-visitor") == []
    sweep = store.sweep(store.latest_sweep_id())
    assert sweep.status is JobStatus.DONE and [p.concurrency for p in sweep.points] == [1, 2]

    mine = store.create_job(["Who wrote Hamlet?"], source="test", endpoint="Local", model="m",
                            max_concurrency=1, owner="a-visitor")
    assert [j.id for j in store.recent_jobs(visible_to="a-visitor")] == [mine]
    store.set_shared(mine, True)
    assert [j.id for j in JobStore(path).recent_jobs(visible_to="another")] == [mine]


def test_cancelling_a_job_or_a_sweep_sets_its_event_and_notes_the_request(store: JobStore) -> None:
    """Both note the cancel request in the store (every session's page then shows it stopping,
    and another app process would stop it there); this process's own run stops at once."""
    import threading

    from core.batch import RunKind, active, cancel_job

    job_id = store.create_job(QUESTIONS, source="test", endpoint="Local", model="m", max_concurrency=1)
    sweep_id = store.create_sweep(source="test", endpoint="Local", levels=[1], n_rows=1)
    assert (store.kind_of(job_id), store.kind_of(sweep_id)) == (RunKind.BATCH, RunKind.SWEEP)
    events = {run_id: threading.Event() for run_id in (job_id, sweep_id)}
    for run_id, event in events.items():
        active.claim(run_id, event)
    store.mark_job_running(job_id)
    store.set_sweep_status(sweep_id, JobStatus.RUNNING)
    try:
        assert cancel_job(store, job_id) and cancel_job(store, sweep_id)
        assert all(event.is_set() for event in events.values())
        assert store.job(job_id).cancel_requested and store.sweep(sweep_id).cancel_requested
    finally:
        for run_id, event in events.items():
            active.release(run_id, event)
    assert not cancel_job(store, job_id)  # nothing runs it any more


def test_a_sweep_that_ends_while_it_is_read_keeps_its_end_not_interrupted(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader sees "running"; before it asks whether anyone still runs the sweep, the sweep's
    thread sets DONE and lets go. The sweep is shown done (a CI run once showed it interrupted)."""
    from core.batch import store as store_module

    sweep_id = store.create_sweep(source="test", endpoint="Local", levels=[1], n_rows=1, note="")
    store.set_sweep_status(sweep_id, JobStatus.RUNNING)

    def sweep_ends_meanwhile(run_id: str) -> bool:
        store.set_sweep_status(run_id, JobStatus.DONE)  # what the sweep's thread does last
        return False  # ... and then it is no longer running

    monkeypatch.setattr(store_module.active, "is_running", sweep_ends_meanwhile)
    assert store.sweep(sweep_id).status is JobStatus.DONE
    monkeypatch.undo()
    assert store.sweep(sweep_id).status is JobStatus.DONE


def test_a_sweep_left_running_by_a_stopped_app_is_shown_interrupted(store: JobStore) -> None:
    sweep_id = store.create_sweep(source="test", endpoint="Local", levels=[1], n_rows=1, note="")
    store.set_sweep_status(sweep_id, JobStatus.RUNNING)  # nobody in this process runs it
    assert store.sweep(sweep_id).status is JobStatus.INTERRUPTED
    assert store.sweep(sweep_id).status is JobStatus.INTERRUPTED  # and it stays so
