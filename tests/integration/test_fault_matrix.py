"""The fault matrix: every network fault × every pattern's real runner.

Each fault is produced for real — the lab's proxy in front of the embedded llama.cpp server
(or a tiny fake OpenAI-compatible server, for what the real one never gives: an unknown-model
404, an HTML page with status 200, a completion without choices, a stream line that is not JSON,
a stream that stops without a finish reason), or a closed port — and each call goes through
`ChatOpenAI` and the runner a page uses: `StreamCapture` (Streaming, Metadata & cost),
`timed_invoke` (Metadata & cost, stream vs. wait), the batch job runner (Batch), the async modes
(Async: ainvoke + gather and astream) and the events recorder (Streaming events). What is
asserted is what the user sees: the kind of problem, the words naming the cause and the fix, the
retries made, and that whatever had arrived is kept.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from langchain_core.messages import AIMessage
from pydantic import SecretStr

from core.batch import JobStore, RowStatus, RunOptions, run_job
from core.call.errors import CallProblem, explain_error
from core.call.models import Endpoint, build_chat_model
from core.call.tracing import CallTracer
from core.embedded_server import EmbeddedModelServer
from core.money.ledger import SessionLedger
from core.network.conditions import NetworkConditions
from core.network.proxy import NetworkProxy
from core.patterns.concurrency import Mode, run_mode
from core.patterns.events import EventRecorder, fresh_async_http_client
from core.patterns.streaming import StreamCapture, timed_invoke
from core.settings import ModelSettings, Provider
from tests.fake_openai import BAD_JSON_LINE, EMPTY_CHOICES, HTML_PAGE, NO_FINISH, FakeOpenAI

FAKE_KEY = "fake-upstream-key-5b1d"
PROMPT = "Count from one to ten."


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(FAKE_KEY, reply="one two three four five six").start()
    yield server
    server.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # free once the socket closes: nothing listens


@dataclass(frozen=True)
class Fault:
    """How to produce a fault, and what the user must be told about it."""

    kind: str
    words: str  # must appear in the title or fix the user reads
    upstream: str  # "embedded", "fake" or "closed"
    conditions: NetworkConditions | None = None  # None: call directly, without the proxy
    model: str | None = None
    upstream_key: str | None = None
    max_retries: int = 0
    timeout_s: float = 120.0  # generous: the machine is shared; only the stall uses a short one
    retries_visible: bool = False
    streams_only: bool = False  # the fault lives in the stream: a whole answer never meets it
    raises: bool = True  # the client raises; False: the stream just ends, and the trace says so
    keeps_text: bool = False  # text arrives before the fault, and must be kept
    named_by_trace: bool = False  # the bare exception says too little: the trace's evidence names it


FAULTS = {
    "401 bad key": Fault("auth", "API key", "embedded", NetworkConditions(first_byte_latency_ms=1), upstream_key="not-the-key"),
    "404 unknown model": Fault("not_found", "model name", "fake", NetworkConditions(first_byte_latency_ms=1), model="no-such-model"),
    "429 rate limit": Fault("rate_limit", "retried 1 time", "embedded", NetworkConditions(max_concurrent=0), max_retries=1, retries_visible=True),
    "5xx": Fault("server_error", "HTTP 503", "embedded", NetworkConditions(error_rate=1.0), max_retries=1, retries_visible=True),
    "timeout": Fault("timeout", "timeout", "embedded", NetworkConditions(stall=True), timeout_s=0.5),
    "connection refused": Fault("connection", "base URL", "closed"),
    "stream cut": Fault("stream_cut", "run again", "embedded", NetworkConditions(cut_stream_after_chunks=3)),
    "stream ends without a finish reason": Fault(
        "incomplete", "may be cut", "fake", model=NO_FINISH, streams_only=True, raises=False, keeps_text=True),
    "HTML page with status 200": Fault("not_json", "base URL", "fake", model=HTML_PAGE, named_by_trace=True),
    "200 with empty choices": Fault(
        "empty_choices", "choices", "fake", model=EMPTY_CHOICES, raises=False, named_by_trace=True),
    "stream line that is not JSON": Fault(
        "bad_json", "not JSON", "fake", model=BAD_JSON_LINE, streams_only=True, keeps_text=True),
}
WHOLE_ANSWER_FAULTS = [name for name, fault in FAULTS.items() if not fault.streams_only]


@pytest.fixture
def make_llm(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer, fake_upstream: FakeOpenAI,
    local_settings: ModelSettings,
) -> Callable[[Fault], tuple[object, tuple[str, ...]]]:
    """Build the `ChatOpenAI` that meets `fault`, and the secrets it must never show."""

    def build(fault: Fault, **overrides):
        if fault.upstream == "embedded":
            base_url, key, model = embedded_server.base_url, embedded_server.api_key, embedded_server.model_name
        elif fault.upstream == "fake":
            base_url, key, model = fake_upstream.base_url, FAKE_KEY, "fake-model"
        else:
            base_url, key, model = f"http://127.0.0.1:{_closed_port()}/v1", "unused-key", "m"
        key = fault.upstream_key or key
        model = fault.model or model
        secrets = (key,)
        if fault.conditions is not None:
            route = proxy.route(base_url, key, fault.conditions, scope=f"matrix-{fault.kind}")
            base_url, key = route.base_url, route.key
            secrets += (route.key,)
        endpoint = Endpoint(
            provider=Provider.COMPATIBLE, base_url=base_url, model=model,
            api_key=SecretStr(key), key_env_var="LAB_COMPAT_API_KEY",
        )
        settings = local_settings.with_changes(
            max_retries=fault.max_retries, timeout_s=fault.timeout_s, max_tokens=8
        )
        return build_chat_model(settings, endpoint, **overrides), secrets

    return build


def _assert_explained(problem: CallProblem | None, fault: Fault, secrets: tuple[str, ...]) -> None:
    assert problem is not None, "the fault went unnoticed"
    assert problem.kind == fault.kind, problem
    told = f"{problem.title} {problem.fix}"
    assert fault.words.lower() in told.lower(), told
    if fault.retries_visible:
        assert problem.retries == fault.max_retries
        assert f"after {fault.max_retries} retr" in problem.title
    for secret in secrets:
        assert secret not in problem.as_text()


@pytest.mark.parametrize("name", list(FAULTS))
def test_stream(name: str, make_llm) -> None:
    fault = FAULTS[name]
    llm, secrets = make_llm(fault)
    ledger = SessionLedger()
    capture = StreamCapture(llm, PROMPT, {"callbacks": [ledger.callback(pattern="t", provider="p")]}, secrets=secrets)
    pieces = list(capture.text_chunks())
    _assert_explained(capture.record.error, fault, secrets)
    # Nothing that arrived is lost: the page shows exactly these pieces, and the ledger has the call.
    assert "".join(pieces) == capture.record.text
    if fault.kind == "stream_cut" or fault.keeps_text:
        assert capture.record.text and capture.record.chunk_count >= 1
    assert len(ledger) == 1 and ledger.records()[0].error
    assert ledger.records()[0].status == ("incomplete" if not fault.raises else "failed")


@pytest.mark.parametrize("name", WHOLE_ANSWER_FAULTS)
def test_invoke(name: str, make_llm) -> None:
    fault = FAULTS[name]
    llm, secrets = make_llm(fault)
    record = timed_invoke(llm, PROMPT, secrets=secrets)
    _assert_explained(record.error, fault, secrets)
    assert record.trace.e2e_s is not None


@pytest.mark.parametrize("name", WHOLE_ANSWER_FAULTS)
def test_batch(name: str, make_llm, tmp_path) -> None:
    fault = FAULTS[name]
    llm, secrets = make_llm(fault)
    results = llm.batch([PROMPT, "Say hi."], return_exceptions=True)
    assert len(results) == 2
    for result in results:
        assert isinstance(result, Exception), result
        if not fault.named_by_trace:
            _assert_explained(explain_error(result, *secrets), fault, secrets)
    # The Batch page's own runner: every row failed, each with the cause named, keys redacted.
    store = JobStore(tmp_path / "batch.sqlite3")
    job_id = store.create_job([PROMPT, "Say hi."], source="matrix", endpoint="e", model="m", max_concurrency=2)
    run_job(store, job_id, llm, RunOptions(max_concurrency=2, secrets=secrets))
    rows = store.rows(job_id)
    assert [r.status for r in rows] == [RowStatus.FAILED, RowStatus.FAILED]
    for row in rows:
        assert row.error_kind == fault.kind, row
        assert all(secret not in (row.error or "") for secret in secrets)


@pytest.mark.parametrize("name", list(FAULTS))
@pytest.mark.parametrize("mode", [Mode.GATHER, Mode.ASTREAM])
def test_async_modes(name: str, mode: Mode, make_llm) -> None:
    fault = FAULTS[name]
    if fault.streams_only and not mode.streams:
        pytest.skip("a whole answer never meets a fault inside a stream")
    secrets: tuple[str, ...] = ()

    def build(**overrides):
        nonlocal secrets
        llm, secrets = make_llm(fault, **overrides)
        return llm

    run = run_mode(mode, [PROMPT], build)
    (call,) = run.calls
    _assert_explained(call.error, fault, secrets)
    if fault.keeps_text:
        assert call.text, "what arrived before the fault is kept"


@pytest.mark.parametrize("name", list(FAULTS))
def test_astream_events(name: str, make_llm) -> None:
    fault = FAULTS[name]
    secrets: tuple[str, ...] = ()

    tracer = CallTracer()

    async def collect() -> tuple[list[dict], BaseException | None, EventRecorder]:
        nonlocal secrets
        events: list[dict] = []
        # An HTTP client owned by this event loop (langchain-openai otherwise shares one per base
        # URL across loops, and the next asyncio.run finds "Event loop is closed"): the page's own.
        async with fresh_async_http_client() as http:
            llm, secrets = make_llm(fault, http_async_client=http)
            error: BaseException | None = None
            try:
                async for event in llm.astream_events(PROMPT, version="v2"):
                    events.append(event)
            except Exception as exc:  # v2 has no error event: the error comes out of the iterator
                error = exc
            # The page's recorder, with the run's tracer: the trace's evidence names a malformed
            # answer, and a stream that just stopped, which the iterator does not raise.
            recorder = EventRecorder(secrets=secrets, tracer=tracer)
            async for _ in recorder.awatch(llm.astream_events(PROMPT, config={"callbacks": [tracer]}, version="v2")):
                pass
        return events, error, recorder

    events, error, recorder = asyncio.run(collect())
    assert (error is not None) == fault.raises
    if fault.raises and not fault.named_by_trace:
        _assert_explained(explain_error(error, *secrets), fault, secrets)
    _assert_explained(recorder.error, fault, secrets)
    assert events and events[0]["event"] == "on_chat_model_start"
    streamed = "".join(e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream")
    if fault.kind == "stream_cut" or fault.keeps_text:
        assert streamed, "the chunks before the cut must have been delivered as events"


def test_batch_keeps_the_calls_that_finished_when_others_hit_the_limit(
    proxy: NetworkProxy, embedded_server: EmbeddedModelServer, local_settings: ModelSettings,
) -> None:
    # One call at a time and no retries: of three sent together, one finishes, two get 429.
    route = proxy.route(
        embedded_server.base_url, embedded_server.api_key,
        NetworkConditions(max_concurrent=1, first_byte_latency_ms=400), scope="partial-batch",
    )
    endpoint = Endpoint(Provider.LOCAL, route.base_url, embedded_server.model_name, SecretStr(route.key), "LAB_LOCAL_API_KEY")
    llm = build_chat_model(local_settings.with_changes(max_retries=0, max_tokens=4), endpoint)
    prompts = ["Say one.", "Say two.", "Say three."]
    results = llm.batch(prompts, config={"max_concurrency": 3}, return_exceptions=True)
    finished = [r for r in results if isinstance(r, AIMessage)]
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(results) == 3 and finished and failed
    assert all(m.content for m in finished)
    assert {explain_error(e).kind for e in failed} == {"rate_limit"}
