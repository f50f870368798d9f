"""AppTest of the Batch page: preview and estimate, plain errors, and a job that outlives the script run."""

from __future__ import annotations

import time
from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from core.batch import JobStatus, JobStore, RowStatus
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


def test_each_upload_that_once_raised_gets_a_sentence_naming_its_line(open_page: Callable[[str], AppTest]) -> None:
    """Issue 30: these files ended in a traceback (RecursionError, ValueError, KeyError)."""
    at = open_page(PAGE)
    at.radio(key="batch.source").set_value("Upload a file").run()
    first = b'{"question": "What is 2 + 2?"}\n'
    for name, content, sentence in (
        ("deep.jsonl", first + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n",
         "Line 2 nests objects or lists inside each other too deeply to read"),
        ("long.jsonl", first + b'{"id": ' + b"7" * 5000 + b"}\n",
         "Line 2, column 8 holds a number with 5,000 digits"),
    ):
        at.main.get("file_uploader")[0].set_value((name, content, "application/octet-stream"))
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert sentence in at.error[0].value, name
        assert not any(b.key == "batch.run" for b in at.button)

    # Column names Python's str.format reads as attributes and positions fill a template by name.
    at.main.get("file_uploader")[0].set_value(
        ("prices.csv", b"price.usd,0,item\n12,first,lamp\n7,second,chair\n", "text/csv"))
    at.run()
    at.radio(key="batch.mode").set_value("a template").run()
    at.text_input(key="batch.template.prices.csv").set_value("The {0} item, a {item}, costs {price.usd} USD.").run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error
    assert list(at.dataframe[0].value["prompt"]) == [
        "The first item, a lamp, costs 12 USD.", "The second item, a chair, costs 7 USD.",
    ]
    assert at.button(key="batch.run").label == "Run 2 prompts"


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
    store.mark_job_finished(job_id, JobStatus.DONE, wall_s=1.0)

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


def stored_job(rows: list[dict[str, object]], *, status: JobStatus = JobStatus.DONE) -> str:
    store = JobStore.in_data_dir()
    job_id = store.create_job([f"Question {i + 1}?" for i in range(len(rows))], source="test",
                              endpoint="Local", model="m", max_concurrency=2)
    for i, values in enumerate(rows):
        store.save_row(job_id, i, **values)
    store.mark_job_finished(job_id, status, wall_s=1.0)
    return job_id


def opened_on_job(job_id: str) -> AppTest:
    at = AppTest.from_function(_app_opened_on, args=(PAGE,), default_timeout=120)
    at.query_params["job"] = job_id
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


WRONG_KEY = {"status": RowStatus.FAILED, "error": "Wrong or missing API key (HTTP 401): Incorrect API key provided: [redacted]",
             "error_kind": "auth", "latency_s": 0.05}


def test_a_job_whose_rows_all_failed_says_so_above_the_table_and_reads_failed() -> None:
    job_id = stored_job([WRONG_KEY] * 12)
    at = opened_on_job(job_id)
    line = "12 rows failed: wrong or missing API key (HTTP 401) × 12 — check the key in the sidebar."
    assert [e.value for e in at.error] == [line]
    heading = next(m.value for m in at.markdown if f"Job `{job_id}`" in m.value)
    assert heading.endswith("· **failed**") and "done" not in heading


def test_a_job_with_some_failed_rows_reads_finished_with_failures() -> None:
    ok = {"status": RowStatus.DONE, "output": "Paris.", "latency_s": 1.5, "input_tokens": 30,
          "output_tokens": 2, "total_tokens": 32, "cost_usd": 0.000123}
    timeout = {"status": RowStatus.FAILED, "error": "Timed out after 2 retries: read timed out",
               "error_kind": "timeout", "latency_s": 12.0}
    job_id = stored_job([ok, WRONG_KEY, timeout, timeout])
    at = opened_on_job(job_id)
    assert at.error[0].value == (
        "3 of 4 rows failed: timed out × 2 — raise the timeout in the sidebar's Generation settings; "
        "wrong or missing API key (HTTP 401) × 1 — check the key in the sidebar."
    )
    assert next(m.value for m in at.markdown if f"Job `{job_id}`" in m.value).endswith("· **finished with failures**")
    assert metrics(at)["Done · failed"] == "1 · 3"
    saved = next(d.value for d in at.dataframe if "wall time (s)" in d.value.columns)
    assert saved[saved["job"] == job_id]["status"].item() == "finished with failures"


def test_results_keep_latency_tokens_and_cost_as_numbers_with_the_reasons_in_a_note_column() -> None:
    priced = {"status": RowStatus.DONE, "output": "4", "latency_s": 0.25, "input_tokens": 30,
              "output_tokens": 1, "total_tokens": 31, "cost_usd": 0.00002}
    unpriced = {"status": RowStatus.DONE, "output": "Paris.", "latency_s": 10.5, "input_tokens": 9,
                "output_tokens": 12, "total_tokens": 21}
    no_usage = {"status": RowStatus.DONE, "output": "Shakespeare.", "latency_s": 2.0}
    table = results(opened_on_job(stored_job([priced, unpriced, no_usage, WRONG_KEY])))
    for column in ("latency", "tokens in", "tokens out", "cost"):
        assert table[column].dtype.kind in "if", (column, table[column].dtype)
    # Sorted as numbers: 10.5 s after 2 s (as text, "10.5" would sort before "2").
    assert list(table.sort_values("latency")["#"]) == [4, 1, 3, 2]
    assert list(table["tokens out"].astype("Float64").fillna(-1)) == [1, 12, -1, -1]
    assert table["cost"][0] == 0.00002 and table["cost"][1:].isna().all()  # unknown, never $0
    assert list(table["note"]) == ["", "no price", "usage not reported", "failed"]


def test_each_sweep_level_whose_calls_failed_is_named_with_its_causes() -> None:
    from components.batch_view import sweep_failure_lines

    store = JobStore.in_data_dir()
    sweep_id = store.create_sweep(source="test", endpoint="Local", levels=[1, 8], n_rows=3)
    for level, failed in ((1, 0), (8, 3)):
        job_id = store.create_job(["a", "b", "c"], source="test", endpoint="Local", model="m",
                                  max_concurrency=level, sweep_id=sweep_id)
        for i in range(3):
            store.save_row(job_id, i, **({"status": RowStatus.FAILED, "error": "Timed out: read timed out",
                                          "error_kind": "timeout"} if i < failed else
                                         {"status": RowStatus.DONE, "output": "ok"}))
        store.mark_job_finished(job_id, JobStatus.DONE, wall_s=1.0)
    sweep = store.sweep(sweep_id)
    assert sweep is not None
    assert sweep_failure_lines(sweep, store) == [
        "max_concurrency 8: 3 calls failed: timed out × 3 — raise the timeout in the sidebar's Generation settings."
    ]
