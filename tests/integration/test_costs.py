"""The priced ledger, receipts and the usage cross-check — against the real embedded model.

Fakes appear once, for pure logic: a chat model whose response names no model, to show the gap
in LangChain's own usage callback that the ledger closes.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
from langchain_core.callbacks import UsageMetadataCallbackHandler

from core.call.models import build_chat_model
from core.call.usage import Usage
from core.export.snippets import metadata_code
from core.money.costs import (
    cost_calls,
    cross_check,
    ledger_csv,
    ledger_rows,
    session_totals,
)
from core.money.ledger import CallRecord, SessionLedger
from core.money.pricing import load_price_table
from core.money.receipt import receipt_lines
from core.patterns.streaming import StreamCapture, timed_invoke
from tests.ledger_records import ledger_record

EMBEDDED = "SmolLM2-135M-Instruct"
SHORT = 6  # output tokens per call: enough for every field, cheap on a busy CI machine


@pytest.fixture
def short_llm(local_settings, local_endpoint):
    return build_chat_model(local_settings, local_endpoint, max_tokens=SHORT)


def fields(lines) -> dict[str, str]:
    return {line.field: line.value for line in lines}


def test_receipt_of_a_real_invoke_has_every_readable_field(short_llm) -> None:
    ledger = SessionLedger()
    record = timed_invoke(short_llm, "Name a colour.", {"callbacks": [ledger.callback(pattern="metadata", provider="Local")]})
    assert record.ok and record.usage is not None
    got = fields(receipt_lines(record.response_metadata, record.usage))
    assert got["input tokens"] == f"{record.usage.input_tokens:,}"
    assert got["output tokens"] == f"{record.usage.output_tokens:,}"
    assert int(got["total tokens"]) == record.usage.input_tokens + record.usage.output_tokens
    assert got["model name"] == EMBEDDED
    assert got["finish reason"] in ("stop", "length")
    assert got["system fingerprint"] != "not reported"
    assert got["service tier"] == "not reported"  # llama.cpp does not send one; not faked
    # invoke carries OpenAI's raw token_usage and the response id; the ledger saw the same call.
    assert "raw token usage" in got and got["response id"].startswith("chatcmpl")
    (call,) = ledger.records()
    assert call.usage == record.usage and call.model == EMBEDDED and not call.streamed


def test_receipt_of_a_real_stream_gets_usage_from_the_last_chunk(short_llm) -> None:
    ledger = SessionLedger()
    capture = StreamCapture(short_llm, "Name a fruit.", {"callbacks": [ledger.callback(pattern="metadata", provider="Local")]})
    list(capture.text_chunks())
    record = capture.record
    assert record.usage is not None and record.usage.output_tokens > 0
    got = fields(receipt_lines(record.response_metadata, record.usage))
    assert got["output tokens"] == f"{record.usage.output_tokens:,}"
    assert got["model name"] == EMBEDDED and got["finish reason"] in ("stop", "length")
    # A stream has no raw token_usage block or response id in response_metadata.
    assert "raw token usage" not in got and "response id" not in got
    (call,) = ledger.records()
    assert call.streamed and call.usage == record.usage and call.model_reported


def test_stream_without_usage_is_not_reported_and_never_zero(local_settings, local_endpoint) -> None:
    no_usage = build_chat_model(local_settings, local_endpoint, stream_usage=False, max_tokens=SHORT)
    ledger = SessionLedger()
    config = {"callbacks": [ledger.callback(pattern="streaming", provider="Local")]}
    list(StreamCapture(no_usage, "Say hi.", config).text_chunks())
    timed_invoke(build_chat_model(local_settings, local_endpoint, max_tokens=SHORT), "Say hi.", config)
    costed = cost_calls(ledger.records(), load_price_table())
    totals = session_totals(costed)
    assert (totals.calls, totals.usage_reported, totals.usage_missing) == (2, 1, 1)
    assert totals.streamed_without_usage == 1
    reported = next(c for c in costed if c.record.usage)
    assert totals.total_tokens == reported.record.usage.total_tokens  # the missing one adds nothing
    assert not totals.cost_complete
    assert "1 without usage" in totals.summary()
    missing = next(r for r in ledger_rows(costed) if r["usage"] == "not reported")
    assert missing["cost"] == "not reported" and missing["total_tokens"] is None and missing["cost_usd"] is None


def test_langchain_usage_callback_agrees_with_the_ledger_on_real_calls(short_llm) -> None:
    ledger = SessionLedger()
    langchain_usage = UsageMetadataCallbackHandler()
    config = {"callbacks": [ledger.callback(pattern="metadata", provider="Local"), langchain_usage]}
    timed_invoke(short_llm, "Say yes.", config)
    list(StreamCapture(short_llm, "Say no.", config).text_chunks())
    check = cross_check(ledger.records(), langchain_usage.usage_metadata)
    assert check.agrees and check.ledger_tokens > 0
    assert check.langchain_models == (EMBEDDED,)
    assert "the ledger counted the same" in check.explanation()


def _record(run: str, pattern: str, model: str, start: float, usage: Usage | None, **kw) -> CallRecord:
    return ledger_record(run, pattern, "Test", model, start, 0.5, usage, "stop", **kw)


def test_ledger_csv_has_costs_and_no_secrets(short_llm, embedded_server) -> None:
    ledger = SessionLedger()
    timed_invoke(short_llm, "Say ok.", {"callbacks": [ledger.callback(pattern="metadata", provider="Local")]})
    ledger.add(_record("x", "streaming", EMBEDDED, 1.0, None, streamed=True))
    text = ledger_csv(cost_calls(ledger.records(), load_price_table()), load_price_table())
    assert embedded_server.api_key not in text and embedded_server.base_url not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["model"] == EMBEDDED and float(rows[0]["cost_usd"]) == 0.0
    assert rows[0]["prices_as_of"] == "2026-11-24"
    assert rows[1]["usage"] == "not reported" and rows[1]["cost_usd"] == "" and rows[1]["total_tokens"] == ""


def test_metadata_snippet_runs_and_prints_the_receipt_and_cost(embedded_server, local_settings, local_endpoint) -> None:
    code = metadata_code(local_settings.with_changes(max_tokens=SHORT), local_endpoint, "Say hello.", (1.0, 0.5, 2.0))
    assert embedded_server.api_key not in code
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", local_endpoint.key_env_var: embedded_server.api_key},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "'finish_reason':" in out and "stream usage_metadata: {'input_tokens':" in out
    assert f"usage callback: {{'{EMBEDDED}':" in out
    assert "cost: $0.0000" in out
