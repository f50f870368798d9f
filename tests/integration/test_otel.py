"""OpenTelemetry export into a real receiver on this machine: Arize Phoenix, started here.

Real calls to the embedded model, through the real `ChatOpenAI` and traced client, exported by
the real SDK over OTLP/HTTP; the assertions read what Phoenix stored, through its REST API.
Then a receiver that refuses connections and one that never answers: the calls go on, the
export drops its batches with one warning line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from core.call.models import Endpoint, build_chat_model
from core.call.tracing import CallTracer
from core.export.otel import CONTENT_VAR, run_group, running_export, start_export, stop_export
from core.patterns.streaming import StreamCapture, timed_invoke
from tests.otel_receiver import Phoenix, start_phoenix


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    server = start_phoenix(tmp_path_factory.mktemp("phoenix"))
    yield server
    server.stop()


@pytest.fixture
def no_export_left() -> Iterator[None]:
    yield
    stop_export()


def _stream(llm: Any, prompt: str, tracer: CallTracer) -> Any:
    capture = StreamCapture(llm, prompt, {"callbacks": [tracer]})
    for _ in capture.text_chunks():
        pass
    return capture.record


def _flat(attributes: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    # Phoenix nests dotted keys ({"gen_ai": {"usage": ...}}) or keeps them flat: read both.
    flat: dict[str, Any] = {}
    for key, value in attributes.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flat(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def test_streamed_calls_arrive_with_genai_attributes_marks_anatomy_and_their_run(
    phoenix: Phoenix, embedded_server: Any, local_llm: Any, local_endpoint: Endpoint, local_settings: Any,
    no_export_left: None,
) -> None:
    planted = "sk-planted-" + secrets.token_hex(12)
    export = start_export({"OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.base_url, "OTEL_METRICS_EXPORTER": "none",
                           "OTEL_SERVICE_NAME": "lab-test", CONTENT_VAR: "true"})
    assert export is not None
    tracer = CallTracer(pattern="streaming", provider=local_endpoint.provider.label,
                        secrets=(embedded_server.api_key, planted))
    run_name = f"m-{secrets.token_hex(4)}"
    wrong_key = dataclasses.replace(local_endpoint, api_key=SecretStr(planted))
    with run_group("measure series", run_name, runs=3):
        records = [_stream(local_llm, f"Say hello. (ignore this: {planted})", tracer) for _ in range(2)]
        failed = timed_invoke(build_chat_model(local_settings, wrong_key), "hi", {"callbacks": [tracer]})
    assert all(r.ok for r in records) and not failed.ok
    assert export.flush()

    def complete(spans: list[dict[str, Any]]) -> bool:  # the run, its three calls, their segments
        runs = [s for s in spans if s["name"] == f"measure series {run_name}"]
        calls = {s["context"]["span_id"] for s in spans if runs and s["parent_id"] == runs[0]["context"]["span_id"]}
        parents = {s["parent_id"] for s in spans}
        return len(calls) == 3 and sum(call in parents for call in calls) >= 2

    spans = phoenix.wait_for_spans(complete)
    raw = phoenix.raw_spans()
    assert planted not in raw and embedded_server.api_key not in raw
    by_id = {s["context"]["span_id"]: s for s in spans}
    (run,) = [s for s in spans if s["name"] == f"measure series {run_name}"]
    assert run["parent_id"] is None
    calls = [s for s in spans if s["parent_id"] == run["context"]["span_id"]]
    assert len(calls) == 3 and all(c["name"].startswith("chat ") for c in calls)
    assert {c["context"]["trace_id"] for c in calls} == {run["context"]["trace_id"]}
    assert _flat(run["attributes"])["lab.run.calls"] == 3

    ok = [c for c in calls if c["status_code"] != "ERROR"]
    assert len(ok) == 2
    for call in ok:
        attrs = _flat(call["attributes"])
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "llama.cpp"
        assert attrs["gen_ai.request.model"] == local_endpoint.model
        assert attrs["gen_ai.request.stream"] is True
        assert f"http://{attrs['server.address']}:{attrs['server.port']}" in local_endpoint.base_url
        assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0
        assert attrs["gen_ai.response.finish_reasons"] in (["stop"], ["length"])
        assert 0 < attrs["gen_ai.response.time_to_first_chunk"] <= attrs["lab.ttft_s"] <= attrs["lab.e2e_s"]
        assert "[redacted]" in attrs["gen_ai.input.messages"]  # content on, the key still out
        marks = [e["name"] for e in call["events"]]
        for mark in ("request sent", "response headers", "first chunk", "first chunk with text",
                     "last chunk with text", "usage chunk", "model run ended"):
            assert mark in marks
        segments = [s for s in spans if s["parent_id"] == call["context"]["span_id"]]
        names = [s["name"] for s in segments]
        assert any(n.startswith("Server: prefill") for n in names), names
        assert all(by_id[s["parent_id"]] is call for s in segments)
        assert all(call["start_time"] <= s["start_time"] <= s["end_time"] <= call["end_time"] for s in segments)

    (refused,) = [c for c in calls if c["status_code"] == "ERROR"]
    assert _flat(refused["attributes"])["error.type"] == "auth"


class _Receiver:
    """A TCP port that accepts connections and never answers (a hung receiver); or, stopped, one
    that refuses them."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


def test_a_receiver_that_never_answers_slows_no_call(
    local_llm: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, no_export_left: None,
) -> None:
    receiver = _Receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "6")  # the SDK reads its timeout itself
    export = start_export({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
                           "OTEL_METRICS_EXPORTER": "none"})
    assert export is not None
    tracer = CallTracer(pattern="streaming")
    try:
        with caplog.at_level(logging.WARNING, logger="lab.otel"):
            assert _stream(local_llm, "hi", tracer).ok
            flushing = threading.Thread(target=export.flush)
            flushing.start()  # the export now waits on a receiver that never answers
            assert receiver.accepted.wait(10)
            began = time.perf_counter()
            record = _stream(local_llm, "hi again", tracer)
            took = time.perf_counter() - began
            assert record.ok
            assert flushing.is_alive(), "the export gave up before the call ended: the test proves nothing"
            assert took < 6.0
            flushing.join(30)
        warnings = [r.getMessage() for r in caplog.records if r.name == "lab.otel"]
        assert len(warnings) == 1 and "failed; dropped" in warnings[0]
        assert f"127.0.0.1:{receiver.port}/v1/traces" in warnings[0]
    finally:
        receiver.close()


def test_a_receiver_that_is_down_drops_with_one_warning_line(
    local_llm: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, no_export_left: None,
) -> None:
    receiver = _Receiver()
    receiver.close()  # nothing listens there now: connections are refused
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    export = start_export({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
                           "OTEL_METRICS_EXPORTER": "none"})
    assert export is not None
    tracer = CallTracer(pattern="streaming")
    with caplog.at_level(logging.DEBUG):
        for _ in range(2):  # two batches, two failures: one line
            assert _stream(local_llm, "hi", tracer).ok
            export.flush()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("lab.otel", "opentelemetry"))]
    assert [r.name for r in lines] == ["lab.otel"], [r.getMessage() for r in lines]
    assert "\n" not in lines[0].getMessage()


def _app_on_streaming() -> None:
    from components.router import run_app

    run_app(start_page="pages/streaming.py")


def test_a_presenter_sets_two_lines_streams_and_finds_the_call_in_phoenix(
    phoenix: Phoenix, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, no_export_left: None,
) -> None:
    from streamlit.testing.v1 import AppTest

    from components.runtime import _otel_export

    dotenv = tmp_path / ".env"
    dotenv.write_text(f"OTEL_EXPORTER_OTLP_ENDPOINT={phoenix.base_url}\nOTEL_METRICS_EXPORTER=none\n")
    monkeypatch.setenv("LAB_DOTENV_PATH", str(dotenv))
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_METRICS_EXPORTER"):  # .env's, then gone
        monkeypatch.delenv(name, raising=False)
    before = {s["context"]["span_id"] for s in phoenix.spans()}
    _otel_export.clear()
    try:
        at = AppTest.from_function(_app_on_streaming, default_timeout=300)
        at.run()
        assert any("OpenTelemetry export **on**" in i.value and phoenix.base_url in i.value for i in at.sidebar.info)
        at.sidebar.number_input(key="sidebar.max_tokens").set_value(16)
        at.text_area(key="streaming.prompt").set_value("Name three fruits.")
        next(b for b in at.button if b.label == "Stream").click().run()
        assert not at.exception
        metrics = {m.label: m.value for m in at.metric}
        export = running_export()
        assert export is not None and export.flush()

        def arrived(spans: list[dict[str, Any]]) -> bool:  # the call and its segments
            new_ids = {s["context"]["span_id"] for s in spans if s["context"]["span_id"] not in before}
            return any(s["parent_id"] in new_ids for s in spans if s["context"]["span_id"] in new_ids)

        new = [s for s in phoenix.wait_for_spans(arrived) if s["context"]["span_id"] not in before]
        (call,) = [s for s in new if s["name"].startswith("chat ")]
        attrs = _flat(call["attributes"])
        assert attrs["lab.pattern"] == "streaming" and attrs["gen_ai.request.stream"] is True
        tokens_in, tokens_out = metrics["Tokens in / out"].split(" / ")
        assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (int(tokens_in), int(tokens_out))
        assert "first chunk with text" in [e["name"] for e in call["events"]]
        assert [s for s in new if s["parent_id"] == call["context"]["span_id"]], "where its time went"
    finally:
        _otel_export.clear()
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            del os.environ[name]
