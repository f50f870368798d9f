"""The durable batch job: store + background runner against the real embedded model.

Few rows, 8 output tokens, temperature 0: these tests are about what is kept and how, never
about what the model says.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.batch_jobs import (
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
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store._set_job(job_id, status=JobStatus.RUNNING.value, owner_pid=gone.pid)

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
