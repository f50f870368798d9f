"""The running export: run groups as parent spans, and the worker that turns traces into spans.

The tracer only queues a closed trace (`TraceExport.closed`, a `core.call.tracing.TraceListener`); a
worker thread turns it into spans a moment later (once the runner stamped its end), with
explicit timestamps, and the SDK's `BatchSpanProcessor` sends them from a thread of its own. A
receiver that is down or slow costs the page nothing: the batch is dropped with one warning line.
The SDK is imported only when an export starts.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from core.call.anatomy import anatomy
from core.call.trace import CallTrace
from core.export.otel.config import ExportStatus, export_status, headers_of, signal_url
from core.export.otel.mapping import AttributeValue, call_attributes, mark_events, ns, status_of

if TYPE_CHECKING:  # the SDK loads when the export starts, never with the first screen
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

log = logging.getLogger("lab.otel")

#: The conventions' bucket boundaries: seconds for the durations, tokens for usage.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
#: How long the worker waits for a runner to stamp a call's end before sending it anyway.
SETTLE_S = 0.5


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


def tool_executed(name: str, call_id: str, started_wall: float, ended_wall: float, error: str | None) -> None:
    """A tool ran (an agent loop's step): an ``execute_tool {name}`` span in the current run.

    Its arguments and result are content: they are not sent. Costs nothing when the export is off.
    """
    export = _EXPORT
    if export is not None:
        export.tool_done(name, call_id, started_wall, ended_wall, error, _GROUP.get())


def current_group() -> RunGroup | None:
    """The run the calls made here belong to, if any."""
    return _GROUP.get()



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
        headers = headers_of(env)
        if span_exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _quiet_sdk_loggers()
            span_exporter = _SpanExporter(
                OTLPSpanExporter(endpoint=signal_url(env, "traces"), headers=headers),
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
                OTLPMetricExporter(endpoint=signal_url(env, "metrics"), headers=headers),
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
        """A call ended (`core.call.tracing.TraceListener`): queue it with its run, return at once."""
        self._queue.put(("call", trace, secrets, prompt, _GROUP.get(), time.perf_counter() + self.settle_s))

    def tool_done(self, name: str, call_id: str, started_wall: float, ended_wall: float, error: str | None,
                  group: RunGroup | None) -> None:
        """A tool ran: its span is made in the worker, in order with the calls around it."""
        self._queue.put(("tool", name, call_id, started_wall, ended_wall, error, group))

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
                elif item[0] == "tool":
                    self._send_tool(*item[1:])
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
            attributes=attrs, start_time=ns(group.started_wall))

    def _end_group(self, group: RunGroup) -> None:
        from opentelemetry.trace import Status, StatusCode

        if group.span is None:
            return
        group.span.set_attribute("lab.run.calls", group.calls)
        group.span.set_attribute("lab.run.failed", group.failed)
        if group.failed:
            group.span.set_status(Status(StatusCode.ERROR, f"{group.failed} of {group.calls} calls failed"))
        group.span.end(end_time=ns(group.ended_wall or time.time()))

    def _send_tool(self, name: str, call_id: str, started_wall: float, ended_wall: float, error: str | None,
                   group: RunGroup | None) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        attrs: dict[str, AttributeValue] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                                            "gen_ai.tool.type": "function"}
        if call_id:
            attrs["gen_ai.tool.call.id"] = call_id
        if error is not None:
            attrs["error.type"] = "tool_error"
        span = self.tracer.start_span(f"execute_tool {name}", context=self._context_of(group), kind=SpanKind.INTERNAL,
                                      attributes=attrs, start_time=ns(started_wall))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error[:200]))
        span.end(end_time=ns(ended_wall))

    def _send_call(self, trace: CallTrace, secrets: tuple[str, ...], prompt: list[tuple[str, str]] | None,
                   group: RunGroup | None) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

        attrs = call_attributes(trace, secrets, prompt, capture_content=self.status.capture_content)
        start = trace.started_wall
        end_s = trace.rel(trace.end)
        end = start + (end_s if end_s is not None else 0.0)
        span = self.tracer.start_span(
            f"chat {attrs['gen_ai.request.model']}", context=self._context_of(group), kind=SpanKind.CLIENT,
            attributes=attrs, start_time=ns(start))
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
                    segment.name, context=inside, kind=SpanKind.INTERNAL, start_time=ns(start + segment.start_s),
                    attributes={"lab.segment.layer": segment.layer, "lab.segment.how": segment.how,
                                "lab.segment.before_first_text": segment.before_first_text,
                                "lab.segment.ms": segment.ms})
                child.end(end_time=ns(start + segment.end_s))
        span.end(end_time=ns(end))
        if group is not None:
            group.calls += 1
            group.failed += is_error
        self._record_metrics(trace, attrs)

    def _record_metrics(self, trace: CallTrace, attrs: Mapping[str, AttributeValue]) -> None:
        common = {key: attrs[key] for key in ("gen_ai.operation.name", "gen_ai.provider.name",
                                               "gen_ai.request.model", "gen_ai.response.model", "error.type",
                                               "server.address", "server.port")
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
        from core.call.tracing import add_listener

        _EXPORT = TraceExport(status, env, **kwargs)
        add_listener(_EXPORT)
        return _EXPORT


def stop_export() -> None:
    """Stop the process's export (tests; the app's export runs until the process ends)."""
    global _EXPORT
    with _LOCK:
        export, _EXPORT = _EXPORT, None
    if export is not None:
        from core.call.tracing import remove_listener

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
