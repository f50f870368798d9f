"""The durable batch job: store + background runner against the real embedded model.

Few rows, 8 output tokens, temperature 0: these tests are about what is kept and how, never
about what the model says.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import SecretStr

from core.batch import (
    JobStatus,
    JobStore,
    RowStatus,
    RunOptions,
    cancel_job,
    retry_rows,
    run_job,
    start_job,
    start_sweep,
)
from core.batch.estimate import estimate_input_tokens
from core.batch.export import to_csv, to_jsonl
from core.call.models import Endpoint, build_chat_model, resolve_endpoint
from core.embedded_server import EmbeddedModelServer
from core.export.snippets import batch_code
from core.money.ledger import SessionLedger
from core.money.pricing import call_cost, load_price_table
from core.settings import ModelSettings, Provider
from tests.integration.test_snippets import run_snippet

QUESTIONS = ["What is the capital of France?", "What is 2 + 2?", "Who wrote Romeo and Juliet?"]
# Over the embedded model's 2,048-token context per slot: the server refuses it at once (HTTP 400),
# a real failure to sit beside real successes.
TOO_LONG = "hello " * 2100


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "batch.sqlite3")


@pytest.fixture
def short_settings(local_settings: ModelSettings) -> ModelSettings:
    return local_settings.with_changes(max_tokens=8, max_retries=0)


@pytest.fixture
def short_llm(short_settings: ModelSettings, local_endpoint: Endpoint):
    return build_chat_model(short_settings, local_endpoint)


def ledger_options(ledger: SessionLedger, **kwargs: Any) -> RunOptions:
    return RunOptions(config={"callbacks": [ledger.callback(pattern="batch", provider="Local")]}, **kwargs)


def wait_for(predicate, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_job_keeps_every_row_with_usage_cost_and_failures_beside_successes(
    store: JobStore, short_llm, local_endpoint: Endpoint
) -> None:
    prompts = [QUESTIONS[0], TOO_LONG, QUESTIONS[1]]
    price = load_price_table().price_for(local_endpoint.model)
    assert price is not None and price.is_free
    ledger = SessionLedger()
    job_id = store.create_job(prompts, source="test", endpoint="Local", model=local_endpoint.model,
                              max_concurrency=2, retries=1, line_numbers=[2, 3, 4])
    options = ledger_options(ledger, max_concurrency=2, retries=1,
                             cost_of=lambda u: None if u is None else call_cost(u, price).total_usd)
    info = run_job(store, job_id, short_llm, options)

    assert info.status is JobStatus.DONE
    assert info.counts == {RowStatus.DONE: 2, RowStatus.FAILED: 1}
    assert info.wall_s is not None and info.wall_s > 0
    # A fresh store object on the same file sees the same rows: they are on disk, not in memory.
    rows = JobStore(store.path).rows(job_id)
    first, failed, last = rows
    for row in (first, last):
        assert row.status is RowStatus.DONE and row.output
        assert 0 < row.output_tokens <= 8 and row.input_tokens > 0
        assert row.latency_s is not None and row.latency_s > 0
        assert row.finish_reason in ("stop", "length") and row.model == local_endpoint.model
        assert row.cost_usd == 0.0  # the local model is priced at $0 in the table: a price, not "none"
        assert row.attempts == 1
    assert failed.status is RowStatus.FAILED and failed.error_kind == "bad_request"
    assert "context" in failed.error and failed.output is None
    assert failed.attempts == 2  # one extra attempt, as asked; the good rows were not re-run
    assert [r.line for r in rows] == [2, 3, 4]
    records = ledger.records()
    assert len(records) == 2 + 2 and {r.pattern for r in records} == {"batch"}


def test_cancel_stops_rows_not_started_keeps_finished_and_retry_runs_only_those(
    store: JobStore, short_llm, local_endpoint: Endpoint
) -> None:
    prompts = [f"Say the number {i}." for i in range(4)]
    ledger = SessionLedger()
    job_id = store.create_job(prompts, source="test", endpoint="Local", model="m", max_concurrency=1)
    options = ledger_options(ledger, max_concurrency=1)
    thread = start_job(store, job_id, short_llm, options)
    assert store.job(job_id).status is JobStatus.RUNNING
    wait_for(lambda: store.job(job_id).count(RowStatus.DONE) >= 1)
    assert cancel_job(store, job_id)
    thread.join(timeout=240)

    job = store.job(job_id)
    assert job.status is JobStatus.CANCELLED
    rows = store.rows(job_id)
    done = [r for r in rows if r.status is RowStatus.DONE]
    cancelled = [r for r in rows if r.status is RowStatus.CANCELLED]
    assert len(done) >= 1 and len(cancelled) >= 1 and len(done) + len(cancelled) == 4
    assert all(r.output for r in done)
    assert all(r.attempts == 0 and r.error == "Cancelled before it started." for r in cancelled)
    assert len(ledger) == len(done)  # cancelled rows never reached the endpoint

    kept = {r.index: r.output for r in done}
    retried = retry_rows(store, job_id, short_llm, options)
    assert retried == [r.index for r in cancelled]
    wait_for(lambda: store.job(job_id).status.finished)
    rows = store.rows(job_id)
    assert all(r.status is RowStatus.DONE for r in rows)
    assert {i: rows[i].output for i in kept} == kept  # finished rows untouched by the retry
    assert all(rows[i].attempts == 1 for i in kept)


class _LeakyModel(BaseChatModel):
    """Pure-logic stand-in: an endpoint whose error and answer both quote the key."""

    key: str

    @property
    def _llm_type(self) -> str:
        return "leaky"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if "fail" in str(messages[-1].content):
            raise RuntimeError(f"Incorrect API key provided: {self.key}")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=f"your key is {self.key}"))])


def test_export_never_contains_a_planted_key(
    store: JobStore, embedded_server: EmbeddedModelServer, short_settings: ModelSettings
) -> None:
    planted = "sk-planted-key-0123456789abcdef"
    # A real call with a wrong key: the embedded server answers 401.
    settings = short_settings.with_changes(
        provider=Provider.COMPATIBLE, base_url=embedded_server.base_url,
        model=embedded_server.model_name, api_key=SecretStr(planted),
    )
    endpoint = resolve_endpoint(settings, None)
    real = store.create_job(QUESTIONS[:1], source="t", endpoint=endpoint.label, model="m", max_concurrency=1)
    run_job(store, real, build_chat_model(settings, endpoint), RunOptions(secrets=(planted,)))
    # An endpoint that quotes the key in an error and in an answer.
    leaky = store.create_job(["please fail", "answer"], source="t", endpoint="x", model="m", max_concurrency=2)
    run_job(store, leaky, _LeakyModel(key=planted), RunOptions(max_concurrency=2, secrets=(planted,)))

    real_rows, leaky_rows = store.rows(real), store.rows(leaky)
    assert real_rows[0].error_kind == "auth"
    assert [r.status for r in leaky_rows] == [RowStatus.FAILED, RowStatus.DONE]
    for rows in (real_rows, leaky_rows):
        for text in (to_csv(rows, planted), to_jsonl(rows, planted)):
            assert planted not in text and "0123456789abcdef" not in text
    exported = [json.loads(line) for line in to_jsonl(leaky_rows, planted).splitlines()]
    assert exported[0]["error"].endswith("[redacted]")
    assert set(exported[1]) >= {"input_tokens", "output_tokens", "cost_usd", "cost_note", "latency_s"}


def test_sweep_runs_the_same_prompts_at_each_level(
    store: JobStore, short_settings: ModelSettings, local_endpoint: Endpoint
) -> None:
    settings = short_settings.with_changes(max_tokens=4)
    sweep_id = start_sweep(
        store, QUESTIONS[:2], [2, 1], lambda: build_chat_model(settings, local_endpoint),
        RunOptions(), source="test", endpoint="Local", model="m",
    )
    wait_for(lambda: store.sweep(sweep_id).status.finished)
    sweep = store.sweep(sweep_id)
    assert sweep.status is JobStatus.DONE and sweep.levels == [1, 2]
    assert [p.concurrency for p in sweep.points] == [1, 2]
    assert all(p.job.count(RowStatus.DONE) == 2 and p.job.wall_s and p.throughput for p in sweep.points)
    assert sweep.per_call_s == sweep.points[0].run.median_e2e_s
    assert store.recent_jobs() == []  # sweep runs are not listed among the batch jobs


def test_local_token_estimate_matches_what_the_server_reports(local_llm, local_endpoint: Endpoint) -> None:
    estimate = estimate_input_tokens(QUESTIONS[:2], local_endpoint)
    assert estimate.counted and "tokenizer" in estimate.method
    reported = sum(local_llm.invoke(q, max_tokens=1).usage_metadata["input_tokens"] for q in QUESTIONS[:2])
    assert abs(estimate.input_tokens - reported) <= 2


def test_batch_snippet_runs_against_the_embedded_model(
    embedded_server: EmbeddedModelServer, short_settings: ModelSettings
) -> None:
    endpoint = resolve_endpoint(short_settings, embedded_server)
    code = batch_code(short_settings, endpoint, QUESTIONS[:2], 2)
    assert embedded_server.api_key not in code
    result = run_snippet(code, endpoint.key_env_var, embedded_server.api_key)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "#1 done:" in result.stdout and "#2 done:" in result.stdout
    assert "2 calls in" in result.stdout
