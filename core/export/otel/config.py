"""The standard OpenTelemetry variables, read the way the SDK reads them (no SDK import).

`export_status` says whether call traces are exported and where to; the sidebar shows its
`describe()` line. Header values (an API key, usually) are never kept in the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

#: Switches content capture on (the variable OpenTelemetry's GenAI instrumentations read).
CONTENT_VAR = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CONTENT_ON = {"true", "1", "span_only", "span_and_event"}
DEFAULT_SERVICE_NAME = "execution-patterns-lab"

def _get(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def signal_url(env: Mapping[str, str], signal: str) -> str | None:
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
    traces = signal_url(env, "traces")
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
    metrics_url = signal_url(env, "metrics") if "otlp" in _exporters(env, "OTEL_METRICS_EXPORTER") else None
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



def headers_of(env: Mapping[str, str]) -> dict[str, str]:
    """The headers to send (parsed as the SDK parses ``OTEL_EXPORTER_OTLP_HEADERS``)."""
    from opentelemetry.util.re import parse_env_headers

    raw = _get(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") or ""
    return dict(parse_env_headers(raw, liberal=True))
