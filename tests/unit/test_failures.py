"""Failures told in one line: grouped by cause with what to do, and a status that never says "done"."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from core.batch import JobStatus, JobStore, RowStatus, row_failures
from core.call.errors import CallProblem, explain_error
from core.call.failures import GENERIC_FIX, failure_line, outcome_label, problem_from_stored, summarize_failures


def http_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx.Response(status, headers=headers, request=request, json={"error": {"message": "nope"}})
    cls = {401: openai.AuthenticationError, 429: openai.RateLimitError}.get(status, openai.InternalServerError)
    return cls("nope", response=response, body={"error": {"message": "nope"}})


def test_twelve_wrong_keys_make_one_line_naming_the_cause_and_the_fix() -> None:
    problems = [explain_error(http_error(401)) for _ in range(12)]
    line = failure_line(summarize_failures(problems))
    assert line == "12 rows failed: wrong or missing API key (HTTP 401) × 12 — check the key in the sidebar."


def test_causes_are_grouped_most_frequent_first_and_successes_are_skipped() -> None:
    timeout = explain_error(TimeoutError("read timed out"))
    limited = explain_error(http_error(429, {"retry-after": "2"}))
    groups = summarize_failures([timeout, None, limited, limited, None, limited, timeout, None])
    assert [(g.kind, g.count) for g in groups] == [("rate_limit", 3), ("timeout", 2)]
    line = failure_line(groups, total=8, noun="call")
    assert line.startswith("5 of 8 calls failed: rate limited (HTTP 429) × 3 — lower the concurrency")
    assert "; timed out × 2 — raise the timeout" in line


def test_titles_differing_only_in_retries_made_are_one_cause() -> None:
    first = CallProblem("server_error", "The endpoint failed (HTTP 503) after 2 retries", "down", "Try again.", 2)
    second = CallProblem("server_error", "The endpoint failed (HTTP 503) after 1 retry", "down", "Try again.", 1)
    third = CallProblem("server_error", "The endpoint failed (HTTP 503)", "down", "Try again.", 0)
    (group,) = summarize_failures([first, second, third])
    assert group.title == "The endpoint failed (HTTP 503)" and group.count == 3


def test_a_cause_without_a_short_fix_uses_the_first_sentence_of_its_own() -> None:
    odd = CallProblem("malformed", "Not a chat completion", "HTML page", "Check the base URL ends in /v1. More.")
    assert summarize_failures([odd])[0].fix == "check the base URL ends in /v1"
    assert summarize_failures([CallProblem("x", "Odd", "", "")])[0].fix == GENERIC_FIX


def test_nothing_failed_says_nothing() -> None:
    assert failure_line(summarize_failures([None, None])) == ""


def test_outcome_is_done_only_when_nothing_failed() -> None:
    assert outcome_label(3, 0) == "done"
    assert outcome_label(2, 1) == "finished with failures"
    assert outcome_label(0, 3) == "failed"


def test_stored_rows_come_back_as_their_problems_and_the_job_status_names_the_failures(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "batch.sqlite3")
    job_id = store.create_job(["a", "b", "c"], source="t", endpoint="e", model="m", max_concurrency=1)
    store.save_row(job_id, 0, status=RowStatus.DONE, output="ok")
    for i in (1, 2):
        store.save_row(job_id, i, status=RowStatus.FAILED, error="Timed out after 1 retry: read timed out",
                       error_kind="timeout", error_fix="Raise the timeout.")
    store.mark_job_finished(job_id, JobStatus.DONE)
    job = store.job(job_id)
    assert job is not None and job.outcome == "finished with failures"
    assert failure_line(row_failures(store.rows(job_id)), total=job.n_rows) == (
        "2 of 3 rows failed: timed out × 2 — raise the timeout in the sidebar's Generation settings."
    )
    store.save_row(job_id, 0, status=RowStatus.FAILED, error="Timed out: x", error_kind="timeout")
    assert store.job(job_id).outcome == "failed"  # type: ignore[union-attr]  # the job exists: just created
    store.requeue_rows(job_id, [RowStatus.FAILED])
    assert all(r.error_fix is None and r.problem is None for r in store.rows(job_id))


def test_a_store_made_before_rows_kept_their_fix_gains_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "batch.sqlite3"
    JobStore(path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE rows DROP COLUMN error_fix")
    store = JobStore(path)
    job_id = store.create_job(["a"], source="t", endpoint="e", model="m", max_concurrency=1)
    store.save_row(job_id, 0, status=RowStatus.FAILED, error="Odd: x", error_kind="unexpected", error_fix="Try again.")
    assert store.rows(job_id)[0].problem == problem_from_stored("unexpected", "Odd: x", "Try again.")


def test_a_sweep_with_failed_calls_at_one_level_reads_finished_with_failures(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "batch.sqlite3")
    sweep_id = store.create_sweep(source="t", endpoint="e", levels=[1, 4], n_rows=2)
    for level, failed in ((1, 0), (4, 2)):
        job_id = store.create_job(["a", "b"], source="t", endpoint="e", model="m", max_concurrency=level,
                                  sweep_id=sweep_id)
        for i in range(2):
            if i < failed:
                store.save_row(job_id, i, status=RowStatus.FAILED, error="Rate limited (HTTP 429): slow down",
                               error_kind="rate_limit")
            else:
                store.save_row(job_id, i, status=RowStatus.DONE, output="ok")
        store.mark_job_finished(job_id, JobStatus.DONE, wall_s=1.0)
    store.set_sweep_status(sweep_id, JobStatus.DONE)
    sweep = store.sweep(sweep_id)
    assert sweep is not None and sweep.outcome == "finished with failures"
    assert [p.job.outcome for p in sweep.points] == ["done", "failed"]
