"""The session report scrubs the session's data of its secrets, and only the data.

A local server's key is often a short word (`test`, `none`, `1234`). Scrubbed over the whole
HTML, such a key rewrote the inline plotly.js and the charts stopped drawing.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
import plotly.offline

from core.export.report import EndpointLine, ReportFigure, ReportInputs, ReportSection, ReportTable, build_report
from core.money.pricing import load_price_table
from tests.ledger_records import ledger_record

SHORT_KEYS = ("test", "none", "1234", "true")


def _report(secrets: tuple[str, ...]) -> str:
    records = [
        ledger_record("r1", "streaming", "Test", "fake-model", 1.0, 0.5, None, "stop",
                      error="401: Incorrect API key provided: test. Rerun the testing suite."),
    ]
    figure = go.Figure(go.Bar(x=["call 1", "call 2"], y=[1.0, 2.0], name="key 1234",
                              hovertext=["sent test", "ok"], marker={"line": {"width": 0}}))
    figure.update_layout(hovermode="closest", dragmode=False, xaxis={"type": "category"})
    section = ReportSection(
        pattern="streaming", title="A section", facts=(("Key", "none"),),
        tables=(ReportTable("Runs", ("a", "b"), (("test", "testing"),)),),
        figures=(ReportFigure("Chart", figure, "none of these"),),
    )
    return build_report(ReportInputs(
        records=records, price_table=load_price_table(),
        endpoints=(EndpointLine("A", "http://me:1234@localhost:8000/v1", "fake-model"),),
        sections=(section,), secrets=secrets,
    ))


def test_a_short_key_leaves_the_inline_plotly_js_and_the_figures_intact() -> None:
    page = _report(SHORT_KEYS)
    assert plotly.offline.get_plotlyjs() in page
    # The figure's own vocabulary is not data: its layout and trace types are as drawn.
    assert '"hovermode":"closest"' in page and '"type":"bar"' in page and '"type":"category"' in page


def test_the_sessions_data_is_scrubbed_of_each_secret_as_a_whole_token() -> None:
    page = _report(SHORT_KEYS)
    body = page.split("<body", 1)[1]
    text = re.sub(r"<script.*?</script>", "", body, flags=re.DOTALL)
    assert "Incorrect API key provided: [redacted]." in text
    assert "testing" in text  # the same letters inside a longer word stay
    assert "[redacted]" in text and ">none<" not in text
    # In the chart, the data's labels and hover text are scrubbed too.
    assert '"name":"key [redacted]"' in page and '"sent [redacted]"' in page
    # The Base URL's userinfo is never written.
    assert "http://localhost:8000/v1" in text and "me:" not in text


def test_without_secrets_the_report_shows_the_data_as_it_was() -> None:
    page = _report(())
    assert "Incorrect API key provided: test." in page and '"name":"key 1234"' in page
