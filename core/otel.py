"""OpenTelemetry export of the call traces, following the GenAI semantic conventions (opt-in).

Teams already look at Phoenix, Jaeger, Langfuse, Tempo or Datadog; all of them take OTLP. When
the standard variables are set (in `.env` or the environment; the real environment wins, as for
LangSmith), every call trace the lab closes is sent there:

* **the call** is a ``chat {model}`` span (kind CLIENT) with the GenAI attributes
  (``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.usage.*``, ``gen_ai.response.finish_reasons``,
  ``gen_ai.response.time_to_first_chunk``, ``gen_ai.request.stream``) and the lab's own figures
  under ``lab.*`` (TTFT to the first text, TPOT, tokens/s, the server's and proxy's reports);
* **its marks** (request sent, response headers, first chunk, first text, last text, usage
  chunk, …) are span events, at the moments they were stamped;
* **its anatomy** (where the time went) is one child span per segment, laid end to end;
* **its outcome** is the span status: an error (``error.type`` = the problem's kind) for a
  failed call, an incomplete stream or a malformed answer; unset for a complete one;
* **runs** (a batch job, a Measure series, an async mode, a compare race) are parent spans:
  `run_group` around the calls;
* **the GenAI client metrics** ``gen_ai.client.operation.duration``,
  ``gen_ai.client.token.usage``, ``gen_ai.client.operation.time_to_first_chunk`` and
  ``gen_ai.client.operation.time_per_output_chunk`` are histograms with the conventions'
  bucket boundaries.

All of these names are marked *Development* in the conventions (checked 2026-12 in the GenAI
conventions repository; ``error.type`` and ``server.*`` are the stable ones), so they may be
renamed: they live in this module only.

Prompt and answer text are sent only when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
says so (``true``, ``SPAN_ONLY`` or ``SPAN_AND_EVENT``), as ``gen_ai.input.messages`` /
``gen_ai.output.messages``. Every string sent passes `core.errors.redact` with the call's keys:
no key leaves the process, even inside an error message.

**Off the hot path.** The tracer only queues a closed trace (`TraceExport.closed`); a worker
thread turns it into spans a moment later (once the runner has stamped its end), and the SDK's
`BatchSpanProcessor` sends them from a thread of its own. A receiver that is down or slow costs
the page nothing: the export gives up after its timeout, drops the batch and says so in one
warning line (and once more when it works again). `bench/otel_overhead.py` measures the cost.

The SDK is imported only when the export starts: importing this module costs the first screen
nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from core.trace import FAILED, INCOMPLETE, CallTrace, TokenSource, anatomy

if TYPE_CHECKING:  # the SDK loads when the export starts, never with the first screen
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

log = logging.getLogger("lab.otel")

#: Switches content capture on (the variable OpenTelemetry's GenAI instrumentations read).
CONTENT_VAR = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CONTENT_ON = {"true", "1", "span_only", "span_and_event"}
DEFAULT_SERVICE_NAME = "execution-patterns-lab"
#: The conventions' bucket boundaries: seconds for the durations, tokens for usage.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
#: How long the worker waits for a runner to stamp a call's end before sending it anyway.
SETTLE_S = 0.5


# --- the variables, read as the SDK reads them (no SDK import) ---------------------------------


def _get(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _signal_url(env: Mapping[str, str], signal: str) -> str | None:
    """The OTLP/HTTP URL of one signal: its own variable as-is, else the base + /v1/<signal>."""
    own = _get(env, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if own:
        return own
    base = _get(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    return f"{base.rstrip('/')}/v1/{signal}" if base else None


def shown_url(url: str) -> str:
    """`url` without what may be a secret (user and password, query, fragment).

    Example:
        >>> shown_url("https://user:pw@otel.example.com:4318/v1/traces?token=abc")
        'https://otel.example.com:4318/v1/traces'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _exporters(env: Mapping[str, str], name: str) -> set[str]:
    value = _get(env, name) or "otlp"
    return {part.strip().lower() for part in value.split(",")}


@dataclass(frozen=True)
class ExportStatus:
    """Whether call traces go to an OpenTelemetry receiver, and where (never a header value).

    Attributes:
        enabled: spans are exported (an endpoint is set and nothing switches them off).
        traces_url: where spans go (credentials and query stripped), None when off.
        metrics_url: where the GenAI metrics go, None when they are not exported.
        service_name: the ``service.name`` the receiver files them under.
        capture_content: prompt and answer text are sent too.
        has_headers: headers (an API key, usually) are sent with them; their values are never kept.
        problem: why the variables set cannot work, in plain words; None when they can.
    """

    enabled: bool
    traces_url: str | None = None
    metrics_url: str | None = None
    service_name: str = DEFAULT_SERVICE_NAME
    capture_content: bool = False
    has_headers: bool = False
    problem: str | None = None

    def describe(self) -> str:
        """One line for the sidebar.

        Example:
            >>> ExportStatus(True, "http://127.0.0.1:6006/v1/traces").describe()
            'OpenTelemetry export **on** · http://127.0.0.1:6006/v1/traces · service **execution-patterns-lab** · no metrics'
            >>> ExportStatus(False).describe()
            'OpenTelemetry export off (set OTEL_EXPORTER_OTLP_ENDPOINT in .env)'
        """
        if not self.enabled:
            return "OpenTelemetry export off (set OTEL_EXPORTER_OTLP_ENDPOINT in .env)"
        extras = [f"service **{self.service_name}**"]
        if self.metrics_url is None:
            extras.append("no metrics")
        if self.capture_content:
            extras.append("with prompts and answers")
        return f"OpenTelemetry export **on** · {self.traces_url} · " + " · ".join(extras)


def export_status(env: Mapping[str, str]) -> ExportStatus:
    """Read the standard OpenTelemetry variables the way the SDK does.

    Example:
        >>> s = export_status({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        ...                    "OTEL_EXPORTER_OTLP_HEADERS": "api_key=secret-123"})
        >>> s.enabled, s.traces_url, s.metrics_url, s.has_headers, "secret-123" in repr(s)
        (True, 'http://127.0.0.1:4318/v1/traces', 'http://127.0.0.1:4318/v1/metrics', True, False)
        >>> export_status({}).enabled
        False
    """
    traces = _signal_url(env, "traces")
    if (_get(env, "OTEL_SDK_DISABLED") or "").lower() == "true" or not traces:
        return ExportStatus(False)
    if "otlp" not in _exporters(env, "OTEL_TRACES_EXPORTER"):
        return ExportStatus(False)
    protocol = (_get(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").lower()
    if protocol != "http/protobuf":
        return ExportStatus(False, problem=(
            f"OTEL_EXPORTER_OTLP_PROTOCOL is {protocol}: the lab sends OTLP over HTTP (http/protobuf). "
            "Unset it, and point OTEL_EXPORTER_OTLP_ENDPOINT at the receiver's HTTP port (usually 4318)."
        ))
    metrics_url = _signal_url(env, "metrics") if "otlp" in _exporters(env, "OTEL_METRICS_EXPORTER") else None
    name = _get(env, "OTEL_SERVICE_NAME")
    if name is None:
        for pair in (_get(env, "OTEL_RESOURCE_ATTRIBUTES") or "").split(","):
            key, _, value = pair.partition("=")
            if key.strip() == "service.name" and value.strip():
                name = value.strip()
    return ExportStatus(
        enabled=True,
        traces_url=shown_url(traces),
        metrics_url=shown_url(metrics_url) if metrics_url else None,
        service_name=name or DEFAULT_SERVICE_NAME,
        capture_content=(_get(env, CONTENT_VAR) or "").lower() in _CONTENT_ON,
        has_headers=_get(env, "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS") is not None,
    )


# --- runs: groups of calls as parent spans ----------------------------------------------------


@dataclass
class RunGroup:
    """A group of calls (a batch job, a Measure series, an async mode): one parent span.

    Attributes:
        kind: what the group is ("batch job", "measure series", "async mode", ...).
        name: which one (a job id, a mode).
        attributes: extra ``lab.run.*`` attributes (plain values).
        started_wall / ended_wall: seconds since the epoch.
        parent: the group this one runs inside, if any.
    """

    kind: str
    name: str
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    started_wall: float = field(default_factory=time.time)
    ended_wall: float | None = None
    parent: RunGroup | None = None
    calls: int = 0
    failed: int = 0
    span: Span | None = field(default=None, repr=False)


_GROUP: ContextVar[RunGroup | None] = ContextVar("lab_otel_group", default=None)


@contextlib.contextmanager
def run_group(kind: str, name: str, **attributes: str | int | float | bool) -> Iterator[RunGroup]:
    """Calls made inside (on this thread, its batch workers or its tasks) are children of one span.

    Costs a context-variable set when the export is off.

    Example:
        >>> with run_group("measure series", "m1", runs=5) as group:
        ...     current_group() is group
        True
        >>> current_group() is None
        True
    """
    group = RunGroup(kind, name, dict(attributes), parent=_GROUP.get())
    export = _EXPORT
    if export is not None:
        export.group_started(group)
    token = _GROUP.set(group)
    try:
        yield group
    finally:
        _GROUP.reset(token)
        group.ended_wall = time.time()
        if export is not None:
            export.group_ended(group)


def current_group() -> RunGroup | None:
    """The run the calls made here belong to, if any."""
    return _GROUP.get()


# --- the mapping: one call trace → attributes, events, child spans ----------------------------

AttributeValue = str | bool | int | float | Sequence[str]


def provider_name(trace: CallTrace) -> str:
    """``gen_ai.provider.name``: ``openai`` for OpenAI, the serving software otherwise.

    The conventions' list has no value for a local llama.cpp or an unnamed OpenAI-compatible
    server, and allow a custom one; the lab's labels become ``llama.cpp`` and
    ``openai_compatible``.

    Example:
        >>> provider_name(CallTrace("r", provider="OpenAI")), provider_name(CallTrace("r", provider="Local (embedded SmolLM2)"))
        ('openai', 'llama.cpp')
    """
    label = trace.provider.lower()
    if label == "openai":
        return "openai"
    if label.startswith("local"):
        return "llama.cpp"
    return "openai_compatible"


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def call_attributes(
    trace: CallTrace,
    secrets: Sequence[str] = (),
    prompt: Sequence[tuple[str, str]] | None = None,
    *,
    capture_content: bool = False,
) -> dict[str, AttributeValue]:
    """The GenAI (and ``lab.*``) attributes of one call's span; only the figures measured.

    A figure the call did not report is absent, never 0. Prompt and answer text appear only
    with `capture_content`; every string passes `redact` with `secrets`.

    Example:
        >>> from core.trace import Outcome, StreamChunk
        >>> from core.usage import Usage
        >>> t = CallTrace("r", provider="OpenAI", model_requested="gpt-4o-mini", origin=0.0,
        ...               finished=1.0, streamed=True, chunks=[StreamChunk(0.2, "Hi")],
        ...               outcome=Outcome("complete", "Hi", Usage(9, 1, 10), "stop", "gpt-4o-mini-2024"))
        >>> a = call_attributes(t)
        >>> a["gen_ai.operation.name"], a["gen_ai.usage.output_tokens"], a["gen_ai.response.finish_reasons"]
        ('chat', 1, ('stop',))
        >>> "gen_ai.output.messages" in a, "gen_ai.output.messages" in call_attributes(t, capture_content=True)
        (False, True)
    """
    from core.errors import redact

    def clean(text: str) -> str:
        return redact(text, *secrets)

    outcome = trace.outcome
    figures = trace  # its figures are its own properties
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(trace),
        "gen_ai.request.model": clean(trace.model_requested or "unknown"),
        "lab.pattern": trace.pattern,
        "lab.provider": clean(trace.provider),
        "lab.status": trace.status,
    }
    if trace.streamed:
        attrs["gen_ai.request.stream"] = True
        if trace.first_chunk is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = trace.first_chunk - trace.origin
    if outcome is not None:
        if outcome.model:
            attrs["gen_ai.response.model"] = clean(outcome.model)
        if outcome.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = (outcome.finish_reason,)
        response_id = outcome.response_metadata.get("id")
        if isinstance(response_id, str) and response_id:
            attrs["gen_ai.response.id"] = response_id
        if outcome.usage is not None:
            attrs["gen_ai.usage.input_tokens"] = outcome.usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = outcome.usage.output_tokens
            if outcome.usage.cached_input_tokens:
                attrs["gen_ai.usage.cache_read.input_tokens"] = outcome.usage.cached_input_tokens
            if outcome.usage.reasoning_tokens:
                attrs["gen_ai.usage.reasoning.output_tokens"] = outcome.usage.reasoning_tokens
        if outcome.problem is not None:
            attrs["error.type"] = outcome.problem.kind or "_OTHER"
            attrs["lab.problem"] = clean(outcome.problem.as_text())
    for name, value in (("lab.ttft_s", figures.ttft_s), ("lab.e2e_s", figures.e2e_s),
                        ("lab.tpot_s", figures.tpot_s), ("lab.tokens_per_s", figures.output_tokens_per_s)):
        if value is not None:
            attrs[name] = value
    if figures.token_source is not None and figures.output_tokens is not None:
        attrs["lab.output_tokens"] = figures.output_tokens
        attrs["lab.output_tokens_counted_from"] = (
            "usage" if figures.token_source is TokenSource.USAGE else "text chunks")
    attrs["lab.retries"] = trace.retries
    if trace.attempt is not None and trace.attempt.status is not None:
        attrs["http.response.status_code"] = trace.attempt.status
    if trace.server is not None:
        attrs["lab.server.source"] = trace.server.source
        for name in ("prompt_tokens", "prompt_ms", "cached_tokens", "predicted_tokens", "predicted_ms", "processing_ms"):
            value = getattr(trace.server, name)
            if value is not None:
                attrs[f"lab.server.{name}"] = value
    if trace.proxy is not None:
        attrs["lab.proxy.held_ms"] = trace.proxy.held_ms
        attrs["lab.proxy.queued_ms"] = trace.proxy.queued_ms
        if trace.proxy.refused:
            attrs["lab.proxy.refused"] = trace.proxy.refused
    if trace.tags:
        attrs["lab.tags"] = tuple(clean(tag) for tag in trace.tags)
    if capture_content:
        if prompt:
            attrs["gen_ai.input.messages"] = json.dumps(
                [{"role": _ROLES.get(role, role), "parts": [{"type": "text", "content": clean(text)}]}
                 for role, text in prompt], ensure_ascii=False)
        if outcome is not None:
            message: dict[str, Any] = {"role": "assistant",
                                       "parts": [{"type": "text", "content": clean(outcome.text)}]}
            if outcome.finish_reason:
                message["finish_reason"] = outcome.finish_reason
            attrs["gen_ai.output.messages"] = json.dumps([message], ensure_ascii=False)
    return attrs


# LangChain's message types → the conventions' roles.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def status_of(trace: CallTrace, secrets: Sequence[str] = ()) -> tuple[bool, str | None]:
    """(is an error, its description): failed, incomplete and malformed calls are errors.

    Example:
        >>> from core.trace import Outcome
        >>> status_of(CallTrace("r", outcome=Outcome("complete")))
        (False, None)
        >>> status_of(CallTrace("r", outcome=Outcome("incomplete")))
        (True, 'incomplete: the stream ended without a finish reason')
    """
    from core.errors import redact

    outcome = trace.outcome
    if outcome is None or (outcome.status not in (FAILED, INCOMPLETE) and outcome.problem is None):
        return False, None
    if outcome.problem is not None:
        return True, redact(f"{outcome.status}: {outcome.problem.title}", *secrets)
    return True, f"{outcome.status}: the stream ended without a finish reason"


def mark_events(trace: CallTrace) -> list[tuple[str, int, dict[str, str]]]:
    """Every mark of the call as (name, time in ns since the epoch, attributes), in order.

    Example:
        >>> t = CallTrace("r", origin=10.0, started_wall=1000.0, lc_start=10.001, lc_end=10.5)
        >>> [(name, ns) for name, ns, _ in mark_events(t)][:2]
        [('call began', 1000000000000), ('model run started', 1000001000000)]
    """
    return [(name, _ns(trace.started_wall + at), {"lab.layer": layer}) for layer, name, at in trace.marks()]


# --- the export itself ---------------------------------------------------------------------------


class _OneLineWarnings:
    """Wraps an exporter: a failed export is dropped with one warning line, said again only after
    it worked in between (the SDK's own retry lines are quieted)."""

    def __init__(self, inner: Any, what: str, url: str, hint: str = "") -> None:
        self.inner, self.what, self.url, self.hint = inner, what, url, hint
        self.failing = False
        self.dropped = 0

    def _result(self, ok: bool, count: int) -> None:
        if ok:
            if self.failing:
                log.warning("OpenTelemetry: %s export to %s works again.", self.what, self.url)
            self.failing = False
            return
        self.dropped += count
        if not self.failing:
            log.warning("OpenTelemetry: %s export to %s failed; dropped %d (said once until it "
                        "works again)%s.", self.what, self.url, count, self.hint)
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _quiet_sdk_loggers() -> None:
    # The exporter logs each retry and failure with its own lines; the wrapper says it in one.
    for name in ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                 "opentelemetry.exporter.otlp.proto.http.metric_exporter",
                 "opentelemetry.exporter.otlp.proto.http",
                 "opentelemetry.exporter.otlp.common.http",
                 "opentelemetry.sdk._shared_internal",
                 "opentelemetry.sdk.metrics._internal.export"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class TraceExport:
    """The running export: its own tracer and meter providers, fed from a worker thread.

    Args:
        status: what `export_status` read (enabled, service name, content capture).
        env: the variables (for the headers, which the status never holds).
        span_exporter / metric_reader: given by tests (the SDK's in-memory ones); by default the
            OTLP/HTTP exporters to the status's URLs.
        settle_s: how long the worker waits for a runner to stamp a call's end.
    """

    wants_prompts: bool

    def __init__(
        self,
        status: ExportStatus,
        env: Mapping[str, str],
        *,
        span_exporter: SpanExporter | Any = None,
        metric_reader: MetricReader | None = None,
        settle_s: float = SETTLE_S,
    ) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.status = status
        self.wants_prompts = status.capture_content
        self.settle_s = settle_s
        resource = Resource.create({"service.name": status.service_name})
        headers = _headers(env)
        if span_exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _quiet_sdk_loggers()
            span_exporter = _SpanExporter(
                OTLPSpanExporter(endpoint=_signal_url(env, "traces"), headers=headers),
                "span", status.traces_url or "")
        # Large queue: a batch job of hundreds of rows, each a call and its segments, fits.
        self._spans = TracerProvider(resource=resource, shutdown_on_exit=False)
        # The one-line-warning wrapper has the exporter's methods without its base class (the SDK
        # loads only when the export starts, after this module).
        self._processor = BatchSpanProcessor(cast("SpanExporter", span_exporter), max_queue_size=65536, max_export_batch_size=512,
                                             schedule_delay_millis=1000)
        self._spans.add_span_processor(self._processor)
        self.tracer = self._spans.get_tracer("execution-patterns-lab")
        readers: list[MetricReader] = []
        if metric_reader is not None:
            readers.append(metric_reader)
        elif status.metrics_url is not None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            exporter = _MetricExporter(
                OTLPMetricExporter(endpoint=_signal_url(env, "metrics"), headers=headers),
                "metrics", status.metrics_url,
                " (a receiver that takes traces only: set OTEL_METRICS_EXPORTER=none)")
            readers.append(PeriodicExportingMetricReader(cast("MetricExporter", exporter)))
        self._meters = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
        meter = self._meters.get_meter("execution-patterns-lab")
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed answer.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.per_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk", unit="s",
            description="Time between consecutive chunks of a streamed answer.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="lab-otel-export", daemon=True)
        self._worker.start()

    # --- called on the hot path: queue only ------------------------------------------------------

    def closed(self, trace: CallTrace, secrets: tuple[str, ...], prompt: list[tuple[str, str]] | None) -> None:
        """A call ended (`core.tracing.TraceListener`): queue it with its run, return at once."""
        self._queue.put(("call", trace, secrets, prompt, _GROUP.get(), time.perf_counter() + self.settle_s))

    def group_started(self, group: RunGroup) -> None:
        """A run began: its span opens (in the worker) before any of its calls'."""
        self._queue.put(("start", group))

    def group_ended(self, group: RunGroup) -> None:
        """A run ended: its span closes after the calls queued before."""
        self._queue.put(("end", group))

    # --- the worker ------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item[0] == "stop":
                return
            try:
                if item[0] == "flushed":
                    item[1].set()
                elif item[0] == "call":
                    _, trace, secrets, prompt, group, due = item
                    while trace.finished is None and (wait := due - time.perf_counter()) > 0:
                        time.sleep(min(wait, 0.02))
                    self._send_call(trace, secrets, prompt, group)
                elif item[0] == "start":
                    self._start_group(item[1])
                else:
                    self._end_group(item[1])
            except Exception:  # one bad trace never stops the export
                log.warning("OpenTelemetry: a call could not be turned into spans", exc_info=True)

    def _context_of(self, group: RunGroup | None) -> Any:
        from opentelemetry.trace import set_span_in_context

        return set_span_in_context(group.span) if group is not None and group.span is not None else None

    def _start_group(self, group: RunGroup) -> None:
        from opentelemetry.trace import SpanKind

        attrs: dict[str, AttributeValue] = {"lab.run.kind": group.kind, "lab.run.name": group.name}
        attrs |= {f"lab.run.{key}": value for key, value in group.attributes.items()}
        group.span = self.tracer.start_span(
            f"{group.kind} {group.name}", context=self._context_of(group.parent), kind=SpanKind.INTERNAL,
            attributes=attrs, start_time=_ns(group.started_wall))

    def _end_group(self, group: RunGroup) -> None:
        from opentelemetry.trace import Status, StatusCode

        if group.span is None:
            return
        group.span.set_attribute("lab.run.calls", group.calls)
        group.span.set_attribute("lab.run.failed", group.failed)
        if group.failed:
            group.span.set_status(Status(StatusCode.ERROR, f"{group.failed} of {group.calls} calls failed"))
        group.span.end(end_time=_ns(group.ended_wall or time.time()))

    def _send_call(self, trace: CallTrace, secrets: tuple[str, ...], prompt: list[tuple[str, str]] | None,
                   group: RunGroup | None) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

        attrs = call_attributes(trace, secrets, prompt, capture_content=self.status.capture_content)
        start = trace.started_wall
        end_s = trace.rel(trace.end)
        end = start + (end_s if end_s is not None else 0.0)
        span = self.tracer.start_span(
            f"chat {attrs['gen_ai.request.model']}", context=self._context_of(group), kind=SpanKind.CLIENT,
            attributes=attrs, start_time=_ns(start))
        for name, at_ns, event_attrs in mark_events(trace):
            span.add_event(name, event_attrs, timestamp=at_ns)
        is_error, description = status_of(trace, secrets)
        if is_error:
            span.set_status(Status(StatusCode.ERROR, description))
        parts = anatomy(trace)
        if parts is not None:
            inside = set_span_in_context(span)
            for segment in parts.segments:
                child = self.tracer.start_span(
                    segment.name, context=inside, kind=SpanKind.INTERNAL, start_time=_ns(start + segment.start_s),
                    attributes={"lab.segment.layer": segment.layer, "lab.segment.how": segment.how,
                                "lab.segment.before_first_text": segment.before_first_text,
                                "lab.segment.ms": segment.ms})
                child.end(end_time=_ns(start + segment.end_s))
        span.end(end_time=_ns(end))
        if group is not None:
            group.calls += 1
            group.failed += is_error
        self._record_metrics(trace, attrs)

    def _record_metrics(self, trace: CallTrace, attrs: Mapping[str, AttributeValue]) -> None:
        common = {key: attrs[key] for key in ("gen_ai.operation.name", "gen_ai.provider.name",
                                               "gen_ai.request.model", "gen_ai.response.model", "error.type")
                  if key in attrs}
        end = trace.rel(trace.end)
        if end is not None:
            self.duration.record(end, common)
        usage = trace.outcome.usage if trace.outcome is not None else None
        if usage is not None:
            self.tokens.record(usage.input_tokens, {**common, "gen_ai.token.type": "input"})
            self.tokens.record(usage.output_tokens, {**common, "gen_ai.token.type": "output"})
        if trace.streamed and trace.chunks:
            self.first_chunk.record(trace.chunks[0].at - trace.origin, common)
            for before, after in itertools.pairwise(trace.chunks):
                self.per_chunk.record(after.at - before.at, common)

    # --- for tests, the bench and the end of the process -----------------------------------------

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued call is turned into spans and those are handed to the exporter."""
        done = threading.Event()
        self._queue.put(("flushed", done))  # the queue is in order: every earlier item is done first
        if not done.wait(timeout_s):
            return False
        return bool(self._spans.force_flush(int(timeout_s * 1000)))

    def collect_metrics(self, timeout_s: float = 10.0) -> bool:
        """Export the metrics now (they go every minute otherwise)."""
        return bool(self._meters.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        """Send what is queued (within the exporter's timeout), then stop."""
        self._queue.put(("stop",))
        self._worker.join(timeout=5.0)
        self._spans.shutdown()
        self._meters.shutdown()


def _headers(env: Mapping[str, str]) -> dict[str, str]:
    from opentelemetry.util.re import parse_env_headers

    raw = _get(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") or ""
    return dict(parse_env_headers(raw, liberal=True))


class _SpanExporter(_OneLineWarnings):
    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            result = self.inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        self._result(result is SpanExportResult.SUCCESS, len(spans))
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class _MetricExporter(_OneLineWarnings):
    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            result = MetricExportResult.FAILURE
        self._result(result is MetricExportResult.SUCCESS, 1)
        return result


# --- the process's one export ----------------------------------------------------------------------

_EXPORT: TraceExport | None = None
_LOCK = threading.Lock()


def start_export(env: Mapping[str, str], **kwargs: Any) -> TraceExport | None:
    """Start exporting every call trace when `env` switches it on; once per process.

    Returns the running export (the one already running, if any), or None when it is off.
    `kwargs` go to `TraceExport` (tests pass in-memory exporters).
    """
    global _EXPORT
    with _LOCK:
        if _EXPORT is not None:
            return _EXPORT
        status = export_status(env)
        if not status.enabled:
            return None
        from core.tracing import add_listener

        _EXPORT = TraceExport(status, env, **kwargs)
        add_listener(_EXPORT)
        return _EXPORT


def stop_export() -> None:
    """Stop the process's export (tests; the app's export runs until the process ends)."""
    global _EXPORT
    with _LOCK:
        export, _EXPORT = _EXPORT, None
    if export is not None:
        from core.tracing import remove_listener

        remove_listener(export)
        export.shutdown()


def switch_export_off(environ: MutableMapping[str, str] | None = None) -> None:
    """No span leaves this process: for tests and benchmarks, whatever the shell exported.

    Every ``OTEL_*`` variable is removed (the app processes they start inherit that; `.env` is
    theirs to point elsewhere, `LAB_DOTENV_PATH`), and a running export stops. Not
    ``OTEL_SDK_DISABLED``: the SDK would then refuse the spans of a test that starts its own.
    """
    environ = os.environ if environ is None else environ
    for name in [n for n in environ if n.startswith("OTEL_")]:
        del environ[name]
    stop_export()


def running_export() -> TraceExport | None:
    """The process's export, if it runs."""
    return _EXPORT
