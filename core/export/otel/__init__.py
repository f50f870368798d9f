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
``gen_ai.output.messages``. Every string sent passes `core.call.errors.redact` with the call's keys:
no key leaves the process, even inside an error message.

**Off the hot path.** The tracer only queues a closed trace (`TraceExport.closed`); a worker
thread turns it into spans a moment later (once the runner has stamped its end), and the SDK's
`BatchSpanProcessor` sends them from a thread of its own. A receiver that is down or slow costs
the page nothing: the export gives up after its timeout, drops the batch and says so in one
warning line (and once more when it works again). `bench/otel_overhead.py` measures the cost.

The SDK is imported only when the export starts: importing this module costs the first screen
nothing.

Modules:

* `config` — the variables, read as the SDK reads them: `export_status`, `ExportStatus`.
* `mapping` — one trace → attributes, status and events: `call_attributes`, `status_of`,
  `mark_events`, `provider_name` (pure, no SDK).
* `export` — runs as parent spans (`run_group`), the running export (`TraceExport`) and the
  process's one export (`start_export`, `stop_export`, `switch_export_off`).
"""

from core.export.otel.config import CONTENT_VAR, DEFAULT_SERVICE_NAME, ExportStatus, export_status, shown_url
from core.export.otel.export import (
    SETTLE_S,
    RunGroup,
    TraceExport,
    current_group,
    run_group,
    running_export,
    start_export,
    stop_export,
    switch_export_off,
    tool_executed,
)
from core.export.otel.mapping import call_attributes, mark_events, provider_name, status_of

__all__ = [
    "CONTENT_VAR",
    "DEFAULT_SERVICE_NAME",
    "SETTLE_S",
    "ExportStatus",
    "RunGroup",
    "TraceExport",
    "call_attributes",
    "current_group",
    "export_status",
    "mark_events",
    "provider_name",
    "run_group",
    "running_export",
    "shown_url",
    "start_export",
    "status_of",
    "stop_export",
    "switch_export_off",
    "tool_executed",
]
