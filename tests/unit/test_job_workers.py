"""Which app process runs a job, told by a per-process token and its heartbeat in the store.

Two real app processes share one data file here: this test process and a child Python process
that opens the same store. A job counts as running while the heartbeat of the process that runs
it is fresh — never because some process holds its old process id — and either process can
cancel a job the other runs, through the store.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from core.batch import JobStatus, JobStore, RowStatus, RunOptions, active, cancel_job, start_job
from tests.conftest import PROJECT_ROOT

PROMPTS = [f"question {i}" for i in range(40)]

# The other app process: runs a job of slow rows (one at a time) on the same file, says when it
# runs, and exits when the job ends.
OTHER_PROCESS = textwrap.dedent("""
    import sys
    from pathlib import Path
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from core.batch import JobStore, RunOptions, active, run_job

    active.HEARTBEAT_S = 0.1  # beats and reads cancel requests often: the tests wait less
    store = JobStore(Path(sys.argv[1]))
    job_id = store.create_job([f"q{i}" for i in range(40)], source="other", endpoint="fake",
                              model="fake", max_concurrency=1)
    print(job_id, flush=True)
    info = run_job(store, job_id, FakeListChatModel(responses=["a"], sleep=float(sys.argv[2])),
                   RunOptions(max_concurrency=1))
    print(info.status.value, flush=True)
""")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobStore:
    monkeypatch.setattr(active, "HEARTBEAT_S", 0.1)  # as the other process: shorter waits
    return JobStore(tmp_path / "batch.sqlite3")


def _other_process(store: JobStore, row_s: float) -> tuple[subprocess.Popen[str], str]:
    """Start the other app process on `store`'s file; return it and the id of the job it runs."""
    child = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, str(store.path), str(row_s)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    job_id = child.stdout.readline().strip()
    deadline = time.monotonic() + 30
    while (job := store.job(job_id)) is None or job.status is not JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the other process never started its job"
        time.sleep(0.05)
    return child, job_id


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_job_another_live_process_runs_is_running_here_and_interrupted_once_its_heartbeat_stops(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    child, job_id = _other_process(store, row_s=0.5)
    try:
        _wait_for(lambda: store.rows(job_id)[0].status is RowStatus.DONE)
        assert store.job(job_id).status is JobStatus.RUNNING
    finally:
        child.kill()  # as a crash or a power cut: no chance to mark anything
        child.wait()
    # Its heartbeat is fresh for a few more seconds; then the job reads as interrupted.
    assert store.job(job_id).status is JobStatus.RUNNING
    monkeypatch.setattr(active, "STALE_AFTER_S", 0.5)
    _wait_for(lambda: store.job(job_id).status is JobStatus.INTERRUPTED)
    rows = store.rows(job_id)
    assert rows[0].status is RowStatus.DONE  # what it finished is kept
    assert rows[-1].status is RowStatus.CANCELLED and "app stopped" in rows[-1].error


def test_this_process_cancels_a_job_another_app_process_runs(store: JobStore) -> None:
    child, job_id = _other_process(store, row_s=0.2)
    try:
        assert cancel_job(store, job_id)
        assert store.job(job_id).cancel_requested  # every page shows it stopping at once
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "cancelled"  # it stopped within a heartbeat
        assert child.wait(timeout=10) == 0
    finally:
        child.kill()
    job = store.job(job_id)
    assert job.status is JobStatus.CANCELLED
    assert job.count(RowStatus.CANCELLED) > 0 and job.count(RowStatus.DONE) < len(PROMPTS)


def test_another_app_process_cancels_a_job_this_process_runs(store: JobStore) -> None:
    job_id = store.create_job(PROMPTS, source="test", endpoint="fake", model="fake", max_concurrency=1)
    thread = start_job(store, job_id, FakeListChatModel(responses=["a"], sleep=0.2), RunOptions(max_concurrency=1))
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from core.batch import JobStore, cancel_job; "
         "print(cancel_job(JobStore(Path(sys.argv[1])), sys.argv[2]))", str(store.path), job_id],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    assert other.stdout.strip() == "True"
    thread.join(timeout=active.HEARTBEAT_S * 5)
    assert not thread.is_alive(), "the job did not stop after another process cancelled it"
    job = store.job(job_id)
    assert job.status is JobStatus.CANCELLED and job.count(RowStatus.CANCELLED) > 0


def test_a_finished_job_cannot_be_cancelled_by_anyone(store: JobStore) -> None:
    job_id = store.create_job(PROMPTS[:2], source="test", endpoint="fake", model="fake", max_concurrency=2)
    start_job(store, job_id, FakeListChatModel(responses=["a"]), RunOptions()).join(timeout=10)
    assert store.job(job_id).status is JobStatus.DONE
    assert not cancel_job(store, job_id)
    assert not store.job(job_id).cancel_requested


def test_the_heartbeat_stops_when_nothing_runs_and_starts_again_with_the_next_job(store: JobStore) -> None:
    release = threading.Event()

    class Held(FakeListChatModel):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            release.wait(10)
            return super()._call(*args, **kwargs)

    for _ in range(2):
        job_id = store.create_job(PROMPTS[:1], source="test", endpoint="fake", model="fake", max_concurrency=1)
        thread = start_job(store, job_id, Held(responses=["a"]), RunOptions())
        first = store_beat(store)
        _wait_for(lambda first=first: store_beat(store) > first)  # beating while the job runs
        release.set()
        thread.join(timeout=10)
        _wait_for(lambda: store._beater is None, timeout_s=2)  # and then not
        release.clear()


def store_beat(store: JobStore) -> float:
    """This process's latest heartbeat in the store."""
    import sqlite3

    with sqlite3.connect(store.path) as db:
        (beat_at,) = db.execute("SELECT beat_at FROM workers WHERE token = ?", (active.PROCESS_TOKEN,)).fetchone()
    return float(beat_at)
