"""The session report: one self-contained HTML file of what a browser session did.

A presenter hands this file to a stakeholder after a demo. It must open anywhere, offline, and
show the same numbers the app showed, so everything is computed here from the session ledger's
records and their call traces (their figures and `anatomy`), priced with the session's
price table (`core.money.costs`), and plotly.js is embedded inline (about 4.6 MB) instead of loaded
from a CDN. It prints to PDF from the browser: a print stylesheet starts each section on a new
page and keeps tables and charts whole.

Safety rules, both tested:

* every text that came from a model, a prompt or an error is passed through `html.escape`, so
  no model output becomes markup;
* the endpoints' keys (and the proxy's route keys) are never written: endpoints are shown as
  provider, base URL (without `user:password@`) and model, and every text and figure label of the
  session's data is scrubbed of every secret given, as a second line of defence. Only the data:
  the page's own HTML, styles and the inline plotly.js are left alone, so a short key such as
  `test` or `1234` cannot rewrite the JavaScript that draws the charts, and a secret is replaced
  only as a whole token (`core.security.keys.redact_secrets`).

Nothing here imports Streamlit: pages gather their extra figures (stream vs. wait, events
timeline, async timeline, batch sweep) through `components/report_view.py` and pass them in as
`ReportSection`s of plotly figures.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.metadata
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.call.anatomy import Anatomy, anatomy
from core.call.trace import METRIC_DEFINITIONS
from core.money.costs import CostedCall, cost_calls, session_totals
from core.money.ledger import CallRecord
from core.money.pricing import PriceTable, format_usd
from core.money.receipt import receipt_lines
from core.security.keys import redact_secrets, without_userinfo

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Libraries whose versions the report states (what produced the numbers).
LIBRARIES = (
    "streamlit", "langchain-core", "langchain-openai", "openai", "httpx", "plotly", "llama-cpp-python",
)
#: Receipts shown per pattern (the newest); the runs table always lists every call.
RECEIPTS_PER_PATTERN = 12
#: Waterfalls drawn per pattern (the newest calls).
WATERFALLS_PER_PATTERN = 3
#: Characters of each answer shown in the runs table.
ANSWER_PREVIEW_CHARS = 240
REDACTED = "[redacted]"

# Page order of the app, so the report reads like the demo; other patterns follow.
PATTERN_ORDER = ("streaming", "events", "batch", "async", "metadata", "chat", "compare", "load")
PATTERN_TITLES = {
    "streaming": "Streaming",
    "events": "Streaming events",
    "batch": "Batch",
    "async": "Async",
    "metadata": "Metadata & cost",
    "chat": "Chat",
    "compare": "Compare",
    "load": "Load test",
}

EMPTY_SESSION_MESSAGE = (
    "Nothing to report yet: this browser session has made no model calls. Run something on a "
    "pattern page (e.g. Streaming → Stream), then download the report."
)


class EmptySession(ValueError):
    """The session made no calls, so there is nothing to report."""


@dataclass(frozen=True)
class ReportFigure:
    """One chart for the report.

    Attributes:
        title: shown above the chart.
        figure: a plotly figure (anything with plotly's ``to_html``).
        caption: one line under it: what to read in it.
    """

    title: str
    figure: Any
    caption: str = ""


@dataclass(frozen=True)
class ReportTable:
    """A table a page showed (a sweep's levels, a distribution's percentiles...).

    Attributes:
        title: shown above the table ("" for none).
        headers: the column names.
        rows: one sequence of cells per row (strings as the page formatted them; escaped here).
        caption: one line under it: what the figures mean.

    Example:
        >>> ReportTable("Levels", ("c", "wall"), (("1", "2.0 s"),)).headers
        ('c', 'wall')
    """

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""

    @classmethod
    def of_records(cls, title: str, records: Sequence[Mapping[str, object]], caption: str = "") -> ReportTable:
        """From a list of dicts (a DataFrame's ``to_dict("records")``): keys become the headers.

        Example:
            >>> ReportTable.of_records("t", [{"a": 1, "b": None}]).rows
            (('1', ''),)
        """
        headers = tuple(str(k) for k in records[0]) if records else ()
        rows = tuple(tuple("" if r.get(h) is None else str(r.get(h)) for h in headers) for r in records)
        return cls(title, headers, rows, caption)


@dataclass(frozen=True)
class ReportSection:
    """What a page kept besides its ledger records (its last comparison, run, sweep...).

    Attributes:
        pattern: the page's ledger pattern ("streaming", "events", ...): the section is placed
            under that pattern's heading.
        title: the section's heading.
        facts: (label, value) pairs, shown as a small table; values are escaped.
        figures: charts.
        tables: tables the page showed, after the facts and before the charts.
    """

    pattern: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    figures: tuple[ReportFigure, ...] = ()
    tables: tuple[ReportTable, ...] = ()

    @classmethod
    def not_drawn(cls, pattern: str, title: str, error: BaseException) -> ReportSection:
        """The section a page's results could not be turned into: its heading, and why.

        A section that fails keeps its place in the report with the reason, instead of leaving
        the reader to wonder whether the page was ever used.

        Example:
            >>> ReportSection.not_drawn("batch", "Batch summary", KeyError("rows")).facts
            (('not drawn', "This section could not be drawn (KeyError: 'rows'). The rest of the report is complete; the app's terminal has the details."),)
        """
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return cls(pattern, title, (("not drawn", f"This section could not be drawn ({reason}). The "
                                     "rest of the report is complete; the app's terminal has the details."),))


@dataclass(frozen=True)
class EndpointLine:
    """An endpoint as the report names it: never with its key.

    Attributes:
        label: e.g. "Local · SmolLM2-135M-Instruct".
        base_url: where calls went (the real endpoint, not the lab's proxy).
        model: the model name requested.
        note: e.g. network conditions, or "replay of a recording".
    """

    label: str
    base_url: str
    model: str
    note: str = ""


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report is built from.

    Attributes:
        records: the session ledger's records (`SessionLedger.records()`).
        price_table: the session's price table (as-of date and source are printed).
        endpoints: the endpoints the session used.
        sections: extra sections from the pages' session state.
        secrets: values that must not appear in the file (keys); scrubbed if they do.
        generated_at: the report's date (now by default).
        waterfall_figure: draws one call's anatomy (the app's own chart function), or None to
            list the segments as a table only.
    """

    records: Sequence[CallRecord]
    price_table: PriceTable
    endpoints: Sequence[EndpointLine] = ()
    sections: Sequence[ReportSection] = ()
    secrets: tuple[str, ...] = ()
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    waterfall_figure: Callable[[Anatomy], Any] | None = None


def versions() -> dict[str, str]:
    """The app's version (its git commit) and each library's, "not installed" when absent.

    Example:
        >>> "streamlit" in versions() and "app" in versions()
        True
    """
    found = {"app": app_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def app_version() -> str:
    """The app's git commit (``git describe --always --dirty``), or "unknown" outside git."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True,
            text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def report_filename(generated_at: dt.datetime) -> str:
    """The download's file name, e.g. ``lab-report-2026-12-01-2150.html``.

    Example:
        >>> report_filename(dt.datetime(2026, 12, 1, 21, 50, tzinfo=dt.UTC))
        'lab-report-2026-12-01-2150.html'
    """
    return f"lab-report-{generated_at:%Y-%m-%d-%H%M}.html"


def build_report(inputs: ReportInputs) -> str:
    """The whole report as one HTML document (UTF-8 text, plotly.js inline).

    Raises:
        EmptySession: the session made no calls (`EMPTY_SESSION_MESSAGE` says what to do).
    """
    if not inputs.records:
        raise EmptySession(EMPTY_SESSION_MESSAGE)
    token = _SECRETS.set(tuple(inputs.secrets))
    try:
        return _build(inputs)
    finally:
        _SECRETS.reset(token)


def _build(inputs: ReportInputs) -> str:
    import plotly.offline  # heavy: only when a report is built

    costed = cost_calls(inputs.records, inputs.price_table)
    body = [
        _header(inputs, costed),
        _ledger_section(costed, inputs.price_table),
    ]
    by_pattern: dict[str, list[CostedCall]] = {}
    for item in costed:
        by_pattern.setdefault(item.record.pattern or "other", []).append(item)
    extra: dict[str, list[ReportSection]] = {}
    for section in inputs.sections:
        extra.setdefault(section.pattern, []).append(section)
    order = [p for p in PATTERN_ORDER if p in by_pattern or p in extra]
    order += sorted((set(by_pattern) | set(extra)) - set(order))
    for pattern in order:
        body.append(_pattern_section(pattern, by_pattern.get(pattern, []), extra.get(pattern, []), inputs))
    body.append(_definitions_section())
    return _DOCUMENT.format(
        title="Execution Patterns Lab — session report",
        style=_STYLE,
        plotly=plotly.offline.get_plotlyjs(),
        body="\n".join(body),
        print_script=_PRINT_SCRIPT,
    )


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in `text` with "[redacted]", as a whole token only.

    Example:
        >>> scrub("key sk-abc123 here", ["sk-abc123"])
        'key [redacted] here'
        >>> scrub("test, testing", ["test"])
        '[redacted], testing'
    """
    return redact_secrets(text, secrets)


# --- pieces ------------------------------------------------------------------------------------


# The secrets of the report being built: every piece of the session's data is scrubbed of them
# where it enters the page (`_e`, `_figure`), never the page's own markup or scripts.
_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("report_secrets", default=())
# Figure properties that hold the session's data as text (labels, hover text, categories);
# everything else in a figure (modes, colours, templates, "none" and other enumerations) is
# plotly's vocabulary, which a short key must not rewrite.
_FIGURE_TEXT = frozenset({"text", "hovertext", "name", "customdata", "x", "y", "z", "ticktext", "labels"})


def _e(value: object) -> str:
    """The session's data as HTML text: secrets scrubbed, then escaped."""
    return html.escape(redact_secrets(str(value), _SECRETS.get()), quote=True)


def _scrub_figure(figure: Any) -> Any:
    """A copy of a plotly figure with the secrets scrubbed from its text properties only."""
    secrets = _SECRETS.get()
    if not secrets or not hasattr(figure, "to_plotly_json"):
        return figure
    import plotly.graph_objects as go

    return go.Figure(_scrub_values(figure.to_plotly_json(), secrets, text=False))


def _scrub_values(value: Any, secrets: tuple[str, ...], *, text: bool) -> Any:
    if isinstance(value, str):
        return redact_secrets(value, secrets) if text else value
    if isinstance(value, dict):
        return {k: _scrub_values(v, secrets, text=text or k in _FIGURE_TEXT) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub_values(v, secrets, text=text) for v in value)
    return value


def _s(value: float | None, digits: int = 3) -> str:
    return "not reported" if value is None else f"{value:.{digits}f} s"


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, css: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""  # a facts table has none
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}">{thead}<tbody>{body}</tbody></table>'


def _report_table(table: ReportTable) -> str:
    title = f"<h4>{_e(table.title)}</h4>" if table.title else ""
    caption = f'<p class="caption">{_e(table.caption)}</p>' if table.caption else ""
    return f'<div class="table">{title}{_table(table.headers, table.rows)}{caption}</div>'


def _figure(fig: ReportFigure) -> str:
    fig = ReportFigure(fig.title, _scrub_figure(fig.figure), fig.caption)
    if hasattr(fig.figure, "update_yaxes"):
        # Streamlit's chart theme grows the margins to fit the axis labels; plain plotly.js
        # does not, and the app's figures keep a 10 px left margin: the labels would be cut.
        fig.figure.update_xaxes(automargin=True)
        fig.figure.update_yaxes(automargin=True)
    chart = fig.figure.to_html(full_html=False, include_plotlyjs=False, config={"displayModeBar": False})
    caption = f'<p class="caption">{_e(fig.caption)}</p>' if fig.caption else ""
    return f'<figure class="chart"><h4>{_e(fig.title)}</h4>{chart}{caption}</figure>'


def _header(inputs: ReportInputs, costed: list[CostedCall]) -> str:
    totals = session_totals(costed)
    when = inputs.generated_at.astimezone(dt.UTC)
    endpoints = _table(
        ["Endpoint", "Base URL", "Model", "Note"],
        [(e.label, without_userinfo(e.base_url), e.model, e.note) for e in inputs.endpoints],
    ) if inputs.endpoints else "<p>Not recorded.</p>"
    models = sorted({c.record.model for c in costed})
    version_rows = list(versions().items())
    return (
        '<section class="cover">'
        "<h1>Execution Patterns Lab — session report</h1>"
        f'<p class="lead">Generated {_e(when.strftime("%Y-%m-%d %H:%M UTC"))} · '
        f'<span id="summary">{_e(totals.summary())}</span></p>'
        "<h3>Endpoints</h3>" + endpoints +
        f"<p>Models that answered: {_e(', '.join(models))}.</p>"
        "<h3>Prices</h3>"
        f'<p>Price table as of <b id="prices-as-of">{_e(inputs.price_table.as_of)}</b>; source: '
        f"{_e(inputs.price_table.source)}. Costs are tokens × these prices; a call without "
        "reported usage has an unknown cost, never $0.</p>"
        "<h3>Versions</h3>" + _table(["Component", "Version"], version_rows, css="narrow") +
        "</section>"
    )


def _ledger_section(costed: list[CostedCall], table: PriceTable) -> str:
    totals = session_totals(costed)
    rows = []
    for item in costed:
        r, u = item.record, item.record.usage
        rows.append((
            dt.datetime.fromtimestamp(r.started_at, dt.UTC).strftime("%H:%M:%S"),
            PATTERN_TITLES.get(r.pattern, r.pattern), r.model, r.status,
            "not reported" if r.trace.e2e_s is None else f"{r.trace.e2e_s:.3f}",
            u.input_tokens if u else "not reported", u.output_tokens if u else "not reported",
            r.finish_reason or "not reported", "failed" if r.error and not u else item.cost_label,
        ))
    cost = format_usd(totals.cost_usd) if totals.priced_calls else "unknown"
    strip = (
        f"<p class='totals'>Calls <b>{totals.calls}</b> · failed <b>{totals.errors}</b> · usage "
        f"reported <b>{totals.usage_reported}</b> · input tokens <b>{totals.input_tokens:,}</b> · "
        f"output tokens <b>{totals.output_tokens:,}</b> · cost <b id='total-cost'>{_e(cost)}</b>"
        + (" (incomplete: some calls have no usage or no price)" if not totals.cost_complete else "")
        + "</p>"
    )
    return (
        '<section id="ledger"><h2>Ledger: every call, with totals and cost</h2>' + strip +
        _table(["Time (UTC)", "Page", "Model", "Status", "Latency (s)", "Input tokens",
                "Output tokens", "Finish", "Cost"], rows) +
        f"<p class='caption'>Priced with the table as of {_e(table.as_of)}.</p></section>"
    )


def _pattern_section(
    pattern: str, calls: list[CostedCall], extras: list[ReportSection], inputs: ReportInputs
) -> str:
    title = PATTERN_TITLES.get(pattern, pattern.title())
    parts = [f'<section class="pattern" id="pattern-{_e(pattern)}"><h2>{_e(title)}</h2>']
    if calls:
        parts.append(f"<p>{len(calls)} call{'s' if len(calls) != 1 else ''}.</p>")
        parts.append(_runs_table(calls))
    for section in extras:
        parts.append(f"<h3>{_e(section.title)}</h3>")
        if section.facts:
            parts.append(_table(["", ""], section.facts, css="narrow facts"))
        parts.extend(_report_table(t) for t in section.tables)
        parts.extend(_figure(f) for f in section.figures)
    for item in calls[-WATERFALLS_PER_PATTERN:]:
        parts.append(_waterfall(item, inputs))
    receipts = calls[-RECEIPTS_PER_PATTERN:]
    if receipts:
        more = len(calls) - len(receipts)
        parts.append("<h3>Receipts</h3>" + (
            f"<p class='caption'>The newest {len(receipts)}; {more} earlier calls are in the "
            "runs table above.</p>" if more else ""))
        parts.append('<div class="receipts">' + "".join(_receipt(c) for c in receipts) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _runs_table(calls: list[CostedCall]) -> str:
    rows = []
    for n, item in enumerate(calls, 1):
        r = item.record
        m = r.trace
        text = m.text
        preview = text[:ANSWER_PREVIEW_CHARS] + ("…" if len(text) > ANSWER_PREVIEW_CHARS else "")
        rows.append((
            n, r.model, "stream" if r.streamed else "whole answer", r.status,
            _s(m.ttft_s), _s(m.e2e_s),
            f"{m.output_tokens_per_s:.1f}" if m.output_tokens_per_s else "not reported",
            r.finish_reason or "not reported", item.cost_label,
            preview if not r.error else f"{preview} [error: {r.error}]",
        ))
    return _table(
        ["#", "Model", "Kind", "Status", "TTFT", "End to end", "Tokens/s", "Finish", "Cost", "Answer"],
        rows, css="runs",
    )


def _waterfall(item: CostedCall, inputs: ReportInputs) -> str:
    parts = anatomy(item.record.trace)
    if parts is None:
        return ""
    started = dt.datetime.fromtimestamp(item.record.started_at, dt.UTC).strftime("%H:%M:%S")
    title = f"Where the time went — call at {started} UTC ({parts.total_ms():.0f} ms)"
    if inputs.waterfall_figure is not None:
        return _figure(ReportFigure(title, inputs.waterfall_figure(parts),
                                    "Each bar is one stretch of the call, measured by the layer named in the legend."))
    rows = [(s.name, s.layer, f"{s.ms:.1f}") for s in parts.segments]
    return f"<h4>{_e(title)}</h4>" + _table(["Segment", "Measured by", "ms"], rows, css="narrow")


def _receipt(item: CostedCall) -> str:
    r = item.record
    meta = r.trace.outcome.response_metadata if r.trace.outcome else {}
    lines = [(line.field, line.value) for line in receipt_lines(meta, r.usage)]
    lines.append(("cost", item.cost_label))
    when = dt.datetime.fromtimestamp(r.started_at, dt.UTC).strftime("%H:%M:%S")
    return (f'<div class="receipt"><h4>{_e(r.model)} · {_e(when)} UTC</h4>'
            + _table(["Field", "Value"], lines, css="narrow") + "</div>")


def _definitions_section() -> str:
    rows = [(name, text) for name, text in METRIC_DEFINITIONS.items()]
    return ('<section id="definitions"><h2>What the numbers mean</h2>'
            + _table(["Figure", "How it is measured"], rows) + "</section>")


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1c1c1c; line-height: 1.4; padding: 0 1rem; }
h1 { font-size: 1.9rem; } h2 { border-bottom: 2px solid #2E86DE; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .85rem; width: 100%; }
table.narrow { width: auto; }
th, td { border: 1px solid #ccc; padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #f0f3f7; }
td { overflow-wrap: anywhere; }
/* Short figures stay on one line ("stream", "$0.00", "0.312 s"); the answer column wraps. */
table.runs td:not(:last-child), table.runs th { overflow-wrap: normal; white-space: nowrap; }
table.runs td:nth-child(2) { white-space: normal; }
.caption { color: #555; font-size: .85rem; }
.totals { font-size: 1.05rem; }
.receipts { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: .8rem; }
figure.chart { margin: 1rem 0; }
@page { margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; }
  section { break-before: page; page-break-before: always; }
  section.cover { break-before: auto; page-break-before: auto; }
  figure.chart, .receipt, tr, h3, h4 { break-inside: avoid; page-break-inside: avoid; }
  h3, h4 { break-after: avoid; page-break-after: avoid; }
  table { font-size: .72rem; }
  /* A chart is redrawn PRINT_WIDTH_PX wide before printing (script below); never cut it. */
  .js-plotly-plot, .plot-container { max-width: 100%; overflow: hidden; }
  a { color: inherit; text-decoration: none; }
}
"""

#: Charts are redrawn this wide (CSS px) for paper: A4 and Letter, with 12 mm margins, are
#: ~700 and ~725 px wide, narrower than the screen width the charts were first drawn at.
PRINT_WIDTH_PX = 680

_PRINT_SCRIPT = """
(function () {
  function graphs() { return Array.prototype.slice.call(document.querySelectorAll('.js-plotly-plot')); }
  function toPrint() {
    graphs().forEach(function (g) {
      if (!g.dataset.screenWidth) { g.dataset.screenWidth = g._fullLayout ? g._fullLayout.width : ''; }
      Plotly.relayout(g, {width: PRINT_WIDTH_PX});
    });
  }
  function toScreen() {
    graphs().forEach(function (g) {
      var w = Number(g.dataset.screenWidth); delete g.dataset.screenWidth;
      Plotly.relayout(g, w ? {width: w} : {autosize: true});
    });
  }
  window.addEventListener('beforeprint', toPrint);
  window.addEventListener('afterprint', toScreen);
  window.matchMedia('print').addEventListener('change', function (e) { if (e.matches) { toPrint(); } else { toScreen(); } });
})();
""".replace("PRINT_WIDTH_PX", str(PRINT_WIDTH_PX))

_DOCUMENT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script type="text/javascript">{plotly}</script>
</head><body>
{body}
<script type="text/javascript">{print_script}</script>
</body></html>
"""
