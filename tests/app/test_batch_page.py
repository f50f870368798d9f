"""AppTest of the Batch page: preview and estimate, plain errors, and a job that outlives the script run."""

from __future__ import annotations

import time
from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from core.batch_jobs import JobStatus, JobStore, RowStatus
from tests.app.conftest import _app_opened_on
from tests.conftest import PROJECT_ROOT

PAGE = "pages/batch.py"


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def results(at: AppTest):  # the results DataFrame
    return next(d.value for d in at.dataframe if "tokens out" in d.value.columns)


def test_sample_is_previewed_with_its_count_and_a_labelled_estimate(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    assert any(m.value == "**12 prompts** from questions.csv · column question" for m in at.markdown)
    preview = at.dataframe[0].value
    assert list(preview["prompt"][:3]) == [
        "What is the capital of France?", "What is 2 + 2?", "Who wrote Romeo and Juliet?",
    ]
    shown = metrics(at)
    assert shown["Calls"] == "12"
    assert int(shown["Input tokens (estimate)"].replace(",", "")) > 12 * 5
    assert shown["Cost (estimate)"] == "$0.00"  # the local model is priced at $0 in the table
    assert any("Estimates." in c.value and "tokenizer" in c.value for c in at.caption)
    assert at.button(key="batch.run").label == "Run 12 prompts"


def test_bad_input_is_explained_and_cannot_run(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.selectbox(key="batch.sample").set_value("broken.csv").run()
    assert not at.exception
    assert "line 4 has 3 fields" in at.error[0].value
    assert not any(b.key == "batch.run" for b in at.button)

    at.selectbox(key="batch.sample").set_value("questions.csv").run()
    at.radio(key="batch.mode").set_value("a template").run()
    at.text_input(key="batch.template.questions.csv").set_value("Answer {questoin}").run()
    assert not at.exception
    assert at.error[0].value == (
        "The template uses {questoin}, which the file does not have. "
        "Available columns: id, topic, question."
    )

    at.radio(key="batch.source").set_value("Paste text").run()
    at.text_area(key="batch.paste").set_value("What is 2 + 2?\n\n\nName a colour.\n").run()
    assert any(m.value == "**2 prompts** from pasted text · 2 empty rows skipped" for m in at.markdown)


def wait_until_finished(at: AppTest, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while any(b.key == "batch.cancel" for b in at.button):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(1)
        at.run()
        assert not at.exception, [e.message for e in at.exception]


def test_job_survives_reruns_page_switches_and_a_reload(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(8)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.radio(key="batch.source").set_value("Paste text").run()
    at.text_area(key="batch.paste").set_value(
        "What is the capital of France?\nWhat is 2 + 2?\nWho wrote Romeo and Juliet?\n"
    ).run()
    at.slider(key="batch.concurrency").set_value(1).run()
    at.button(key="batch.run").click().run()
    assert not at.exception
    job_id = at.session_state["batch.job_id"]
    assert at.query_params["job"] == job_id  # the URL carries the job, for a reload
    assert any(b.key == "batch.cancel" for b in at.button)  # running, outside this script run

    # A widget click reruns the script; the job goes on.
    at.slider(key="batch.concurrency").set_value(2).run()
    assert any(f"Job `{job_id}`" in m.value for m in at.markdown)
    # Away to another page and back.
    at.switch_page(str(PROJECT_ROOT / "pages/home.py")).run()
    assert not any(b.key == "batch.cancel" for b in at.button)
    at.switch_page(str(PROJECT_ROOT / PAGE)).run()
    assert any(f"Job `{job_id}`" in m.value for m in at.markdown)

    wait_until_finished(at)
    table = results(at)
    assert list(table["status"]) == ["✓ done"] * 3
    assert all(table["output"].str.len() > 0) and all(table["tokens out"] > 0)
    assert metrics(at)["Done · failed"] == "3 · 0"

    # A reloaded tab is a new session: it finds the job through the URL.
    reloaded = AppTest.from_function(_app_opened_on, args=(PAGE,), default_timeout=120)
    reloaded.query_params["job"] = job_id
    reloaded.run()
    assert not reloaded.exception
    again = results(reloaded)
    assert list(again["output"]) == list(table["output"])
    assert {b.label for b in reloaded.get("download_button")} == {"CSV", "JSON Lines"}


def test_retry_failed_rows_reruns_only_those(open_page: Callable[[str], AppTest]) -> None:
    store = JobStore.in_data_dir()
    job_id = store.create_job(
        ["What is the capital of France?", "What is 2 + 2?"], source="test", endpoint="Local",
        model="m", max_concurrency=2,
    )
    store.save_row(job_id, 0, status=RowStatus.DONE, output="Paris.", input_tokens=30, output_tokens=2)
    store.save_row(job_id, 1, status=RowStatus.FAILED, error="Timed out: read timed out", error_kind="timeout")
    store._set_job(job_id, status=JobStatus.DONE.value, wall_s=1.0)

    at = AppTest.from_function(_app_opened_on, args=(PAGE,), default_timeout=120)
    at.query_params["job"] = job_id
    at.run()
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(8).run()
    assert list(results(at)["status"]) == ["✓ done", "✗ failed"]
    retry = at.button(key="batch.retry")
    assert retry.label == "Retry 1 failed row"
    retry.click().run()
    assert not at.exception
    wait_until_finished(at)
    rows = store.rows(job_id)
    assert [r.status for r in rows] == [RowStatus.DONE, RowStatus.DONE]
    assert rows[0].output == "Paris." and rows[0].attempts == 0  # untouched
    assert rows[1].output and rows[1].attempts == 1 and rows[1].error is None
