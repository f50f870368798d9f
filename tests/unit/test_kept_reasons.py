"""Failures keep their reason: a sweep that breaks says why, a report section that fails says so.

Issue 30, item 12: a broad `except` that swallowed the cause left a failed sweep with no reason
and made a report section vanish without a word.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from core.batch import JobStatus, JobStore, RunOptions, start_sweep
from core.export.report import ReportInputs, ReportSection, build_report
from core.money.pricing import load_price_table

OLD_STORE = Path(__file__).parent / "data" / "batch-before-sweep-problem.sqlite3"


def _wait_finished(store: JobStore, sweep_id: str) -> None:
    deadline = time.monotonic() + 30
    while not store.sweep(sweep_id).status.finished:
        assert time.monotonic() < deadline, "the sweep did not end"
        time.sleep(0.02)


def test_a_sweep_that_breaks_keeps_its_reason_across_a_reopen(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "batch.sqlite3")

    def no_model() -> None:  # what building the sweep's model raises when its endpoint is gone
        raise RuntimeError("the endpoint's settings are incomplete")

    sweep_id = start_sweep(store, ["What is 2 + 2?"], [1, 2], no_model, RunOptions(),  # type: ignore[arg-type]  # raises before a model is needed
                           source="test", endpoint="Local", model="m")
    _wait_finished(store, sweep_id)
    reopened = JobStore(store.path).sweep(sweep_id)
    assert reopened is not None and reopened.status is JobStatus.FAILED
    assert reopened.problem is not None and "the endpoint's settings are incomplete" in reopened.problem


def test_a_data_file_made_before_sweep_reasons_opens_and_keeps_new_ones(tmp_path: Path) -> None:
    """The file holds one failed sweep written by the store before `problem` existed."""
    path = tmp_path / "batch.sqlite3"
    shutil.copyfile(OLD_STORE, path)
    store = JobStore(path)
    old_id = store.latest_sweep_id()
    assert old_id is not None
    old = store.sweep(old_id)
    assert old is not None and old.status is JobStatus.FAILED and old.problem is None
    new_id = store.create_sweep(source="test", endpoint="Local", levels=[1], n_rows=1)
    store.set_sweep_status(new_id, JobStatus.FAILED, problem="Unexpected error: the disk is full")
    store.set_sweep_status(new_id, JobStatus.FAILED)  # a later status keeps the reason
    assert JobStore(path).sweep(new_id).problem == "Unexpected error: the disk is full"


def test_a_report_section_that_cannot_be_drawn_is_listed_with_its_reason(tmp_path: Path) -> None:
    """The session's batch job lives in a data file that was removed (`make clean-data`): the
    report keeps the Batch section's heading and says why it has no figures."""
    from components.report_view import BATCH_JOB, JOB_STORE, page_sections

    store = JobStore(tmp_path / "batch.sqlite3")
    job_id = store.create_job(["What is 2 + 2?"], source="test", endpoint="Local", model="m", max_concurrency=1)
    store.path.unlink()
    sections = page_sections({JOB_STORE: store, BATCH_JOB: job_id})
    (batch,) = sections
    assert (batch.pattern, batch.title) == ("batch", "Batch summary")
    ((label, reason),) = batch.facts
    assert label == "not drawn" and "OperationalError" in reason and "no such table" in reason

    page = build_report(ReportInputs(records=[_one_record()], price_table=load_price_table(), sections=sections))
    assert "Batch summary" in page and "This section could not be drawn (OperationalError" in page


def test_a_section_not_drawn_names_an_error_without_a_message() -> None:
    section = ReportSection.not_drawn("async", "Async runs", StopIteration())
    assert "(StopIteration)" in section.facts[0][1]


def _one_record():  # the report needs one call in the ledger to be built at all
    from tests.ledger_records import ledger_record

    return ledger_record("r", "batch", "Local", "m", time.time(), 0.1, None, "stop")
