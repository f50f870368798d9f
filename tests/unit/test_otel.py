"""OpenTelemetry export: the variables, the GenAI mapping of a call trace, runs as parents.

The spans and metrics here go through the real OpenTelemetry SDK into its in-memory exporter and
reader; the calls are LangChain fake models through the real `CallTracer`. The real receiver is
tests/integration/test_otel.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from core.call.errors import CallProblem
from core.call.trace import CallTrace, HttpAttempt, Outcome, ServerReport, StreamChunk
from core.call.tracing import CallTracer
from core.call.usage import Usage
from core.export.otel import (
    ExportStatus,
    call_attributes,
    export_status,
    run_group,
    running_export,
    shown_url,
    start_export,
    status_of,
    stop_export,
)

ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/"}


def test_the_suite_runs_with_the_export_off() -> None:
    assert export_status(os.environ).enabled is False
    assert running_export() is None


@pytest.mark.parametrize(
    ("env", "enabled", "traces", "metrics"),
    [
        ({}, False, None, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False, None, None),  # blank is unset
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318"}, True, "http://h:4318/v1/traces", "http://h:4318/v1/metrics"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:6006/"}, True, "http://h:6006/v1/traces", "http://h:6006/v1/metrics"),
        # A signal's own endpoint is used as it is; the metrics then have no endpoint of theirs.
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/custom"}, True, "http://h:4318/custom", None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_METRICS_EXPORTER": "none"}, True,
         "http://h:4318/v1/traces", None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_TRACES_EXPORTER": "none"}, False, None, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_SDK_DISABLED": "true"}, False, None, None),
    ],
)
def test_the_status_reads_the_standard_variables(
    env: dict[str, str], enabled: bool, traces: str | None, metrics: str | None
) -> None:
    status = export_status(env)
    assert (status.enabled, status.traces_url, status.metrics_url) == (enabled, traces, metrics)


def test_grpc_is_explained_not_attempted() -> None:
    status = export_status({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert not status.enabled
    assert status.problem is not None and "http/protobuf" in status.problem and "4318" in status.problem


def test_the_sidebar_line_says_where_but_never_a_header_or_a_password() -> None:
    status = export_status({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:hunter2@cloud.example.com/otlp",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20sk-planted-0123456789",
        "OTEL_SERVICE_NAME": "demo-lab",
    })
    line = status.describe()
    assert "cloud.example.com/otlp/v1/traces" in line and "demo-lab" in line
    for secret in ("hunter2", "sk-planted", "Bearer"):
        assert secret not in line and secret not in repr(status)
    assert status.has_headers


def test_the_service_name_comes_from_the_resource_attributes_too() -> None:
    env = {**ENV, "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=demo,service.name=from-resource"}
    assert export_status(env).service_name == "from-resource"
    assert export_status(ENV).service_name == "execution-patterns-lab"


@pytest.mark.parametrize(("value", "on"), [("true", True), ("SPAN_ONLY", True), ("span_and_event", True),
                                           ("NO_CONTENT", False), ("EVENT_ONLY", False), ("", False)])
def test_content_capture_follows_the_genai_variable(value: str, on: bool) -> None:
    status = export_status({**ENV, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value})
    assert status.capture_content is on
    assert ("with prompts and answers" in status.describe()) is on


def test_shown_url_keeps_host_port_and_path() -> None:
    assert shown_url("http://127.0.0.1:6006/v1/traces") == "http://127.0.0.1:6006/v1/traces"


# --- the mapping ---------------------------------------------------------------------------------


def _streamed_trace(**outcome: Any) -> CallTrace:
    return CallTrace(
        "run-1", pattern="streaming", provider="Local (embedded SmolLM2)", model_requested="smollm2",
        origin=100.0, started_wall=1_000.0, lc_start=100.001, lc_end=100.300, finished=100.301, streamed=True,
        chunks=[StreamChunk(100.050, ""), StreamChunk(100.100, "Hel"), StreamChunk(100.200, "lo"),
                StreamChunk(100.290, "", usage=True)],
        attempts=[HttpAttempt(1, 100.003, sent=100.004, headers=100.010, first_byte=100.011, ended=100.295,
                              chunk_times=[100.011, 100.099, 100.199, 100.289], status=200,
                              host="127.0.0.1", port=8080)],
        server=ServerReport("llama.cpp timings", prompt_tokens=20, prompt_ms=40.0, predicted_tokens=2,
                            predicted_ms=30.0),
        outcome=Outcome(**({"status": "complete", "text": "Hello", "usage": Usage(20, 2, 22),
                           "finish_reason": "stop", "model": "SmolLM2-135M"} | outcome)),
    )


def test_a_streamed_call_maps_to_the_genai_attributes() -> None:
    attrs = call_attributes(_streamed_trace())
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "llama.cpp"
    assert attrs["gen_ai.request.model"] == "smollm2"
    assert attrs["gen_ai.response.model"] == "SmolLM2-135M"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 20 and attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.050)
    assert attrs["lab.ttft_s"] == pytest.approx(0.100)  # the lab's TTFT is to the first *text*
    assert attrs["lab.server.prompt_ms"] == 40.0
    assert (attrs["server.address"], attrs["server.port"]) == ("127.0.0.1", 8080)
    assert "error.type" not in attrs
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs


def test_a_chat_turn_carries_its_conversation_id(exported: tuple[Any, Any, Any]) -> None:
    from core.patterns.chat_history import HistoryPolicy, TokenCounter, TurnStream, plan_turn, rule_of_thumb
    from core.patterns.conversation import Conversation

    export, spans, _ = exported
    conv = Conversation()
    plan = plan_turn(conv, "Hi", HistoryPolicy(), TokenCounter(rule_of_thumb, "rule", False))
    stream = TurnStream(conv, "Hi", plan, GenericFakeChatModel(messages=iter([AIMessage(content="Hello!")])))
    assert "".join(stream.text_chunks()) == "Hello!" and export.flush()
    (call,) = _by_name(list(spans.get_finished_spans()), "chat ")
    assert call.attributes is not None and call.attributes["gen_ai.conversation.id"] == conv.id


def test_usage_not_reported_is_absent_never_zero() -> None:
    attrs = call_attributes(_streamed_trace(usage=None))
    assert not any(key.startswith("gen_ai.usage.") for key in attrs)
    assert attrs["lab.output_tokens_counted_from"] == "text chunks"


def test_content_is_sent_only_when_asked_and_keys_never() -> None:
    key = "sk-planted-key-0123456789"
    trace = _streamed_trace(text=f"your key is {key}")
    prompt = [("system", "Be brief."), ("human", f"repeat {key}")]
    assert "gen_ai.input.messages" not in call_attributes(trace, (key,), prompt)
    attrs = call_attributes(trace, (key,), prompt, capture_content=True)
    assert '"role": "user"' in str(attrs["gen_ai.input.messages"])
    assert "Be brief." in str(attrs["gen_ai.input.messages"])
    assert "your key is [redacted]" in str(attrs["gen_ai.output.messages"])
    assert key not in repr(attrs)


def test_outcomes_map_to_the_span_status() -> None:
    assert status_of(_streamed_trace()) == (False, None)
    cut = _streamed_trace(status="incomplete", finish_reason=None)
    assert status_of(cut)[0] is True and "incomplete" in str(status_of(cut)[1])
    problem = CallProblem("malformed", "Not a chat completion (HTML page)", "got text/html", "check the URL")
    malformed = _streamed_trace(status="incomplete", problem=problem)
    assert status_of(malformed) == (True, "incomplete: Not a chat completion (HTML page)")
    assert call_attributes(malformed)["error.type"] == "malformed"
    failed = _streamed_trace(status="failed", problem=CallProblem("auth", "Wrong API key sk-abcdefgh123", "", ""))
    is_error, description = status_of(failed, ("sk-abcdefgh123",))
    assert is_error and description is not None and "sk-abcdefgh123" not in description


# --- spans and metrics through the SDK ----------------------------------------------------------


@pytest.fixture
def exported() -> Iterator[tuple[Any, InMemorySpanExporter, InMemoryMetricReader]]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    export = start_export(ENV, span_exporter=spans, metric_reader=reader, settle_s=0.0)
    assert export is not None
    yield export, spans, reader
    stop_export()


def _by_name(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def test_each_call_is_a_client_span_with_its_marks_and_anatomy(exported: tuple[Any, Any, Any]) -> None:
    export, spans, _ = exported
    tracer = CallTracer(pattern="streaming", provider="OpenAI")
    for _ in GenericFakeChatModel(messages=iter([AIMessage(content="one two three")])).stream(
            "count", config={"callbacks": [tracer]}):
        pass
    assert export.flush()
    finished = list(spans.get_finished_spans())
    (call,) = _by_name(finished, "chat ")
    assert call.kind is SpanKind.CLIENT
    assert call.attributes is not None and call.attributes["gen_ai.provider.name"] == "openai"
    names = [e.name for e in call.events]
    assert {"model run started", "first chunk", "first chunk with text", "last chunk with text"} <= set(names)
    assert [e.timestamp for e in call.events] == sorted(e.timestamp for e in call.events)
    segments = [s for s in finished if s.parent is not None and s.parent.span_id == call.context.span_id]
    assert segments, "the anatomy's segments are child spans of the call"
    assert all(call.start_time <= s.start_time <= s.end_time <= call.end_time for s in segments)


def test_a_run_is_the_parent_of_its_calls(exported: tuple[Any, Any, Any]) -> None:
    export, spans, _ = exported
    tracer = CallTracer(pattern="batch")
    with run_group("batch job", "j1", rows=3):
        FakeListChatModel(responses=["a", "b", "c"]).batch(["1", "2", "3"], config={"callbacks": [tracer]})
    FakeListChatModel(responses=["alone"]).invoke("x", config={"callbacks": [tracer]})
    assert export.flush()
    finished = list(spans.get_finished_spans())
    (job,) = _by_name(finished, "batch job j1")
    calls = _by_name(finished, "chat ")
    inside = [c for c in calls if c.parent is not None and c.parent.span_id == job.context.span_id]
    assert len(inside) == 3 and all(c.context.trace_id == job.context.trace_id for c in inside)
    assert job.attributes is not None and job.attributes["lab.run.calls"] == 3 and job.attributes["lab.run.rows"] == 3
    (alone,) = [c for c in calls if c.parent is None]
    assert alone.context.trace_id != job.context.trace_id


def test_a_failed_call_is_an_error_span_and_counts_in_its_run(exported: tuple[Any, Any, Any]) -> None:
    export, spans, _ = exported

    class Broken(FakeListChatModel):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            raise ConnectionError("connection refused")

    with run_group("measure series", "m1"), pytest.raises(ConnectionError):
        Broken(responses=["x"]).invoke("hi", config={"callbacks": [CallTracer()]})
    assert export.flush()
    finished = list(spans.get_finished_spans())
    (call,) = _by_name(finished, "chat ")
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None and call.attributes["error.type"]
    (series,) = _by_name(finished, "measure series")
    assert series.status.status_code is StatusCode.ERROR and series.attributes is not None
    assert series.attributes["lab.run.failed"] == 1


def test_the_genai_metrics_are_histograms(exported: tuple[Any, Any, Any]) -> None:
    export, _, reader = exported
    tracer = CallTracer(provider="OpenAI")
    message = AIMessage(content="a b c", usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10})
    GenericFakeChatModel(messages=iter([message])).invoke("hi", config={"callbacks": [tracer]})
    for _ in GenericFakeChatModel(messages=iter([AIMessage(content="d e f")])).stream(
            "hi", config={"callbacks": [tracer]}):
        pass
    assert export.flush()
    data = reader.get_metrics_data()
    assert data is not None
    found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage",
            "gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.operation.time_per_output_chunk"} <= set(found)
    usage = {dict(p.attributes or {})["gen_ai.token.type"]: p.sum for p in found["gen_ai.client.token.usage"].data.data_points}
    assert usage == {"input": 7, "output": 3}
    duration = found["gen_ai.client.operation.duration"]
    assert duration.unit == "s" and list(duration.data.data_points[0].explicit_bounds)[:3] == [0.01, 0.02, 0.04]


def test_a_call_made_with_no_export_running_costs_no_listener() -> None:
    from core.call import tracing

    assert running_export() is None and tracing._LISTENERS == []
    assert isinstance(ExportStatus(False).describe(), str)


def test_the_lab_runs_are_parents_a_batch_job_and_an_async_mode(
    exported: tuple[Any, Any, Any], tmp_path: Any,
) -> None:
    from core.batch import JobStore, RunOptions, run_job
    from core.patterns.concurrency import Mode, run_mode

    export, spans, _ = exported
    store = JobStore(tmp_path / "batch.sqlite3")
    job_id = store.create_job(["a", "b"], source="test", endpoint="fake", model="fake", max_concurrency=2)
    run_job(store, job_id, FakeListChatModel(responses=["x", "y"]), RunOptions(max_concurrency=2))
    run_mode(Mode.GATHER, ["q1", "q2"], lambda **_: FakeListChatModel(responses=["ok"]))
    assert export.flush()
    finished = list(spans.get_finished_spans())
    for run_name in (f"batch {job_id}", "async mode gather"):
        (run,) = _by_name(finished, run_name)
        children = [s for s in finished if s.parent is not None and s.parent.span_id == run.context.span_id]
        assert len(children) == 2 and all(c.name.startswith("chat ") for c in children), run_name


def test_a_load_test_is_the_parent_of_its_requests(exported: tuple[Any, Any, Any]) -> None:
    import asyncio

    from core.patterns.load import Arrival, LoadSpec, run_load

    export, spans, _ = exported
    fake = GenericFakeChatModel(messages=iter([AIMessage("a b")] * 3))
    done = asyncio.run(run_load(fake, ["q"], LoadSpec(50.0, requests=3, arrival=Arrival.CONSTANT), label="50 req/s"))
    assert done.run.succeeded == 3 and export.flush()
    finished = list(spans.get_finished_spans())
    (load,) = _by_name(finished, "load test 50 req/s")
    children = [s for s in finished if s.parent is not None and s.parent.span_id == load.context.span_id]
    assert len(children) == 3 and all(c.name.startswith("chat ") for c in children)
    assert load.start_time <= min(c.start_time for c in children)
    assert load.end_time is not None and load.end_time >= max(c.end_time or 0 for c in children)


def test_an_agent_loop_is_the_parent_of_its_model_steps_and_tool_runs(exported: tuple[Any, Any, Any]) -> None:
    import asyncio

    from core.patterns.agent import agent_chain
    from tests.unit.test_agent import ToolCallingFake

    export, spans, _ = exported
    model = ToolCallingFake(script=[("calculator", {"expression": "6*7"}), ("nope", {}), "It is 42."], seen=[], bound=[])
    out = asyncio.run(agent_chain(model, max_steps=4).ainvoke({"topic": "cats"}, config={"callbacks": [CallTracer()]}))
    assert out["steps"] == 3 and export.flush()
    finished = list(spans.get_finished_spans())
    (loop,) = _by_name(finished, "agent loop")
    children = [s for s in finished if s.parent is not None and s.parent.span_id == loop.context.span_id]
    assert sorted(s.name.split(" ")[0] for s in children) == ["chat", "chat", "chat", "execute_tool", "execute_tool"]
    tools = {s.name: s for s in children if s.name.startswith("execute_tool")}
    ok, missing = tools["execute_tool calculator"], tools["execute_tool nope"]
    assert ok.attributes is not None and ok.attributes["gen_ai.operation.name"] == "execute_tool"
    assert ok.attributes["gen_ai.tool.call.id"] == "call-1" and ok.status.status_code is not StatusCode.ERROR
    assert missing.status.status_code is StatusCode.ERROR
    assert missing.attributes is not None and missing.attributes["error.type"] == "tool_error"
