"""The durable batch job: store + background runner against the real embedded model.

Few rows, 8 output tokens, temperature 0: these tests are about what is kept and how, never
about what the model says.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.batch_jobs import (
    JobStatus,
    JobStore,
    RowStatus,
)

QUESTIONS = ["What is the capital of France?", "What is 2 + 2?", "Who wrote Romeo and Juliet?"]
@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "batch.sqlite3")


def test_a_job_left_running_by_a_stopped_app_is_shown_interrupted_with_its_rows_kept(store: JobStore) -> None:
    job_id = store.create_job(QUESTIONS, source="test", endpoint="Local", model="m", max_concurrency=2)
    store.save_row(job_id, 0, status=RowStatus.DONE, output="Paris.")
    store.mark_row_running(job_id, 1)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store._set_job(job_id, status=JobStatus.RUNNING.value, owner_pid=gone.pid)

    job = store.job(job_id)
    assert job.status is JobStatus.INTERRUPTED and "retry the rest" in job.problem
    rows = store.rows(job_id)
    assert rows[0].status is RowStatus.DONE and rows[0].output == "Paris."
    assert [r.status for r in rows[1:]] == [RowStatus.CANCELLED, RowStatus.CANCELLED]
    assert "app stopped" in rows[1].error
