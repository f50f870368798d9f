"""The call trace: its maths on recorded marks, and what the traced client really records.

The maths is checked on marks written by hand (a streamed call, a whole answer, a call through
the proxy, one with retries, one with no HTTP marks), so each rule can fail on its own. The
recording is checked against the HTTP fake in tests/ — real sockets, the real `ChatOpenAI` and
openai client — for the outcomes a user must be told about: a stream that ends without a finish
reason, and HTTP 200 answers that are not chat completions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from core.call.anatomy import anatomy
from core.call.models import Endpoint, build_chat_model
from core.call.trace import CallTrace, HttpAttempt, ProxyReport, ServerReport, StreamChunk, TokenSource
from core.money.ledger import SessionLedger
from core.patterns.concurrency import Mode, run_mode
from core.patterns.streaming import StreamCapture, timed_invoke
from core.settings import ModelSettings, Provider
from tests.fake_openai import BAD_JSON_LINE, EMPTY_CHOICES, HTML_PAGE, NO_FINISH, FakeOpenAI

KEY = "fake-key-for-trace-tests-77c1"


def streamed_trace(**overrides: object) -> CallTrace:
    """A streamed call as the tracer records it: 2 ms of LangChain, 100 ms to first text."""
    values: dict[str, object] = dict(
        run_id="r", origin=10.000, lc_start=10.002, lc_end=10.300, finished=10.301, streamed=True,
        chunks=[StreamChunk(10.090, ""), StreamChunk(10.100, "Hello"), StreamChunk(10.150, " there"),
                StreamChunk(10.200, "!"), StreamChunk(10.290, "", usage=True)],
        attempts=[HttpAttempt(1, 10.004, connect_started=10.0045, connected=10.005, sent=10.006,
                              headers=10.010, first_byte=10.011, ended=10.295,
                              chunk_times=[10.011, 10.089, 10.099, 10.149, 10.199, 10.289])],
        server=ServerReport("llama.cpp timings", prompt_tokens=30, prompt_ms=60.0, cached_tokens=0,
                            predicted_tokens=3, predicted_ms=90.0),
    )
    values.update(overrides)
    return CallTrace(**values)


def test_segments_add_up_to_the_measured_ttft_and_total() -> None:
    trace = streamed_trace()
    parts = anatomy(trace)
    assert parts is not None
    assert parts.ttft_s == pytest.approx(0.100)
    assert parts.to_first_text_ms() == pytest.approx(100.0, abs=1e-6)
    assert parts.total_ms() == pytest.approx(301.0, abs=1e-6)
    # Consecutive, no gaps, no overlaps.
    for before, after in zip(parts.segments, parts.segments[1:], strict=False):
        assert after.start_s == pytest.approx(before.end_s)
    names = [s.name for s in parts.segments]
    assert names[0] == "LangChain: before the model run"
    assert "Server: prefill (30 prompt tokens)" in names
    assert "Server: first-token decode" in names
    prefill = next(s for s in parts.segments if s.name.startswith("Server: prefill"))
    assert prefill.ms == pytest.approx(60.0)
    # The wait the server's report does not explain is shown as such, never hidden.
    rest = next(s for s in parts.segments if "not attributed" in s.name)
    assert rest.layer == "unattributed" and rest.ms > 0
    assert all(s.how for s in parts.segments)


def test_a_whole_answer_splits_at_the_headers_with_the_whole_decode() -> None:
    trace = CallTrace(
        "r", origin=0.0, lc_start=0.001, lc_end=0.210, finished=0.211,
        attempts=[HttpAttempt(1, 0.002, sent=0.003, headers=0.200, first_byte=0.201, ended=0.202,
                              chunk_times=[0.201])],
        server=ServerReport("llama.cpp timings", prompt_tokens=20, prompt_ms=40.0, predicted_tokens=10,
                            predicted_ms=150.0),
    )
    parts = anatomy(trace)
    assert parts is not None and parts.ttft_s is None
    assert parts.total_ms() == pytest.approx(211.0)
    names = [s.name for s in parts.segments]
    assert "Server: decode (10 tokens)" in names and "Download the body" in names
    assert parts.to_first_text_ms() == 0.0


def test_without_server_timings_the_server_is_one_labelled_segment() -> None:
    trace = streamed_trace(server=None)
    parts = anatomy(trace)
    assert parts is not None and not parts.server_timings
    server = [s for s in parts.segments if s.layer == "server" and s.before_first_text]
    assert [s.name for s in server] == ["Server (reports no timings)"]
    assert parts.to_first_text_ms() == pytest.approx(100.0)


def test_proxy_waits_are_the_proxys_own_report() -> None:
    trace = streamed_trace(server=None, proxy=ProxyReport(held_ms=50.0))
    parts = anatomy(trace)
    assert parts is not None
    held = next(s for s in parts.segments if s.layer == "proxy")
    assert held.name == "Proxy: simulated latency" and held.ms == pytest.approx(50.0)
    assert parts.to_first_text_ms() == pytest.approx(100.0)


def test_a_report_larger_than_what_was_observed_is_cut_to_fit_and_says_so() -> None:
    trace = streamed_trace(server=ServerReport("llama.cpp timings", prompt_tokens=30, prompt_ms=500.0,
                                               predicted_tokens=3, predicted_ms=90.0))
    parts = anatomy(trace)
    assert parts is not None
    prefill = next(s for s in parts.segments if s.name.startswith("Server: prefill"))
    assert "reported 500.0 ms" in prefill.how
    assert parts.to_first_text_ms() == pytest.approx(100.0)
    assert parts.total_ms() == pytest.approx(301.0)


def test_retries_are_their_own_segment() -> None:
    first = HttpAttempt(1, 10.004, sent=10.005, headers=10.006, ended=10.006, status=503)
    second = HttpAttempt(2, 10.050, sent=10.051, headers=10.060, first_byte=10.061, ended=10.295,
                         chunk_times=[10.061, 10.099, 10.149, 10.199, 10.289])
    parts = anatomy(streamed_trace(attempts=[first, second], server=None))
    assert parts is not None
    retry = next(s for s in parts.segments if s.name.startswith("Earlier attempts"))
    assert retry.ms == pytest.approx(46.0)
    assert parts.total_ms() == pytest.approx(301.0)


def test_no_http_marks_is_one_unattributed_span() -> None:
    trace = CallTrace("r", origin=0.0, lc_start=0.001, lc_end=0.05, finished=0.05, streamed=True,
                      chunks=[StreamChunk(0.02, "a"), StreamChunk(0.04, "b")])
    parts = anatomy(trace)
    assert parts is not None
    assert [s.layer for s in parts.segments] == ["langchain", "unattributed", "unattributed"]
    assert parts.to_first_text_ms() == pytest.approx(20.0)


def test_metrics_follow_their_definitions() -> None:
    m = streamed_trace()
    assert m.ttft_s == pytest.approx(0.100)
    assert m.e2e_s == pytest.approx(0.301)
    assert m.itl_s == pytest.approx((0.050, 0.050))
    assert m.output_tokens == 3 and m.token_source is TokenSource.CHUNKS  # no usage outcome
    assert m.tpot_s == pytest.approx((0.301 - 0.100) / 2)
    assert m.output_tokens_per_s == pytest.approx(2 / 0.100)


def test_a_call_with_one_token_has_no_rate() -> None:
    m = streamed_trace(chunks=[StreamChunk(10.1, "Hi")])
    assert m.ttft_s == pytest.approx(0.1)
    assert m.output_tokens_per_s is None and m.tpot_s is None and m.itl_s == ()


# --- recorded for real, against the HTTP fake -------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(KEY, reply="one two three four five six").start()
    yield server
    server.stop()


def _llm(fake: FakeOpenAI, model: str, **overrides: object):
    settings = ModelSettings(provider=Provider.COMPATIBLE, base_url=fake.base_url, model=model,
                             max_retries=0, timeout_s=20)
    endpoint = Endpoint(Provider.COMPATIBLE, fake.base_url, model, SecretStr(KEY), "LAB_COMPAT_API_KEY")
    return build_chat_model(settings, endpoint, **overrides)


def test_the_traced_client_records_every_layer_of_a_stream(fake: FakeOpenAI) -> None:
    ledger = SessionLedger()
    capture = StreamCapture(_llm(fake, "fake-model"), "hi", {"callbacks": [ledger.callback(pattern="t", provider="p")]})
    text = "".join(capture.text_chunks())
    trace = capture.record.trace
    assert trace is not None and trace.status == "complete" and text == "one two three four five six "
    (attempt,) = trace.attempts
    assert attempt.status == 200 and attempt.content_type == "text/event-stream"
    assert trace.origin < trace.lc_start < attempt.started < attempt.sent <= attempt.headers
    assert attempt.first_byte is not None and attempt.ended is not None
    assert len(attempt.chunk_times) >= len(trace.text_chunks)
    # The record's chunk times are the trace's, counted from the runner's start.
    assert capture.record.trace.text_times_s[0] == pytest.approx(trace.first_text - trace.origin)
    parts = anatomy(trace)
    assert parts is not None
    assert parts.total_ms() == pytest.approx(capture.record.trace.e2e_s * 1000, abs=1.0)
    assert parts.to_first_text_ms() == pytest.approx(capture.record.trace.ttft_s * 1000, abs=1.0)
    (record,) = ledger.records()
    assert record.trace is trace and record.status == "complete"


def test_a_stream_that_ends_without_a_finish_reason_is_incomplete_and_keeps_its_text(fake: FakeOpenAI) -> None:
    ledger = SessionLedger()
    capture = StreamCapture(_llm(fake, NO_FINISH), "hi", {"callbacks": [ledger.callback(pattern="t", provider="p")]})
    shown = "".join(capture.text_chunks())
    record = capture.record
    assert shown and shown == record.text
    assert record.error is not None and record.error.kind == "incomplete"
    assert "may be cut" in record.error.title and record.incomplete
    assert record.trace is not None and record.trace.status == "incomplete"
    assert ledger.records()[0].status == "incomplete"


def test_the_same_cut_in_the_async_stream_mode(fake: FakeOpenAI) -> None:
    run = run_mode(Mode.ASTREAM, ["a", "b"], lambda **o: _llm(fake, NO_FINISH, **o))
    assert [c.error.kind if c.error else None for c in run.calls] == ["incomplete", "incomplete"]
    assert all(c.text for c in run.calls)


@pytest.mark.parametrize(
    ("model", "kind", "words"),
    [
        (HTML_PAGE, "not_json", "Sign in - Corporate proxy"),
        (EMPTY_CHOICES, "empty_choices", "choices"),
    ],
)
def test_an_http_200_that_is_not_a_chat_completion_is_named(fake: FakeOpenAI, model: str, kind: str, words: str) -> None:
    for record in (timed_invoke(_llm(fake, model), "hi"), _streamed(_llm(fake, model))):
        problem = record.error
        assert problem is not None and problem.kind == kind, (model, problem)
        assert words in problem.as_text()
        assert "base URL" in problem.fix and "/v1" in problem.fix
        assert "terminal" not in problem.as_text()


def test_a_stream_line_that_is_not_json_is_named_and_what_came_before_is_kept(fake: FakeOpenAI) -> None:
    record = _streamed(_llm(fake, BAD_JSON_LINE))
    assert record.error is not None and record.error.kind == "bad_json"
    assert "{this is not json" in record.error.detail
    assert record.text  # the words before the bad line


def _streamed(llm):
    capture = StreamCapture(llm, "hi")
    list(capture.text_chunks())
    return capture.record
