"""AppTest of the router, Home and Streaming pages: the real script, the real embedded model."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from components.pages import PATTERN_PAGES


def test_home_explains_every_built_pattern_and_the_decision_guide(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/home.py")
    assert at.title[0].value == "Execution Patterns Lab"
    body = " ".join(m.value for m in at.markdown)
    for page in PATTERN_PAGES:
        assert page.summary in body
    guide = next(m.value for m in at.markdown if "| Situation | Use |" in m.value)
    for use in ("`stream()`", "`batch()` with `max_concurrency`", '`astream_events(version="v2")`'):
        assert use in guide


def test_sidebar_defaults_to_the_embedded_model(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/home.py")
    assert at.sidebar.radio(key="sidebar.provider").value.value == "local"
    from components.runtime import embedded_status

    embedded_status()  # Home does not wait for the model; the sidebar says so once it is up
    at.run()
    assert any("SmolLM2-135M-Instruct" in s.value for s in at.sidebar.success)


def test_home_draws_while_the_model_loads_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh process: Home's first run does not wait for the model, and the sidebar says why."""
    from concurrent.futures import Future

    from components import runtime

    runtime._embedded_start.clear()
    monkeypatch.setattr(runtime, "launch_embedded_server", lambda **_: Future())  # never loads
    try:
        at = AppTest.from_function(_app_on_home, default_timeout=60)
        at.run()
        assert not at.exception
        assert at.title[0].value == "Execution Patterns Lab"
        assert any("Loading the embedded model" in i.value for i in at.sidebar.info)
    finally:
        runtime._embedded_start.clear()  # the next test starts the real model


def _app_on_home() -> None:
    from components.router import run_app

    run_app()


def test_openai_without_key_warns_in_plain_words(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    from core.settings import Provider

    at.sidebar.radio(key="sidebar.provider").set_value(Provider.OPENAI).run()
    # The sidebar escapes Markdown in what it shows (OPENAI\\_API\\_KEY): read it as the page renders it.
    warnings = " ".join(w.value for w in at.sidebar.warning).replace("\\", "")
    assert "OPENAI_API_KEY" in warnings
    at.button[0].click().run()  # Stream
    assert not at.exception
    assert any("Before calling the model" in w.value for w in at.warning)


def test_streaming_page_streams_and_shows_metrics_and_usage(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(20)
    at.sidebar.slider(key="sidebar.temperature").set_value(0.0)
    at.text_area(key="streaming.prompt").set_value("Name three fruits.")
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Time to first token"].endswith(("ms", "s"))
    assert int(metrics["Chunks"]) > 0
    tokens_in, tokens_out = metrics["Tokens in / out"].split(" / ")
    assert int(tokens_in) > 0 and 0 < int(tokens_out) <= 20
    assert any("SmolLM2-135M-Instruct" in c.value for c in at.caption)
    # A rerun from any widget keeps the result on screen.
    at.sidebar.slider(key="sidebar.temperature").set_value(0.1).run()
    assert {m.label for m in at.metric} >= {"Time to first token", "Tokens in / out"}


def test_stream_vs_wait_draws_the_comparison_chart(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(16)
    next(b for b in at.button if b.label == "Stream vs. wait").click().run()
    assert not at.exception
    assert [s.value for s in at.subheader][:2] == ["invoke(): wait for all of it", "stream(): read as it arrives"]
    charts = at.get("plotly_chart")
    assert len(charts) == 1


def test_code_snippet_never_contains_the_key(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    code = at.code[0].value
    assert "LAB_LOCAL_API_KEY" in code
    from components.runtime import embedded_status

    key = embedded_status().server.api_key
    assert key not in code


def _shown_ms(text: str) -> tuple[float, float]:
    """A figure as the page shows it ('84 ms', '1.23 s') in ms, and the half-step it is rounded to."""
    value, unit = text.split()
    return (float(value), 0.5) if unit == "ms" else (float(value) * 1000, 5.0)


def test_the_waterfall_adds_up_to_the_ttft_and_total_shown_beside_it(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(16)
    at.text_area(key="streaming.prompt").set_value("Name three colours.")
    next(b for b in at.button if b.label == "Stream").click().run()
    assert not at.exception
    assert any("Where the time went" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    segments = at.dataframe[0].value
    assert {"segment", "measured by", "ms", "how it was measured"} <= set(segments.columns)
    # The server's own report is a segment: llama.cpp's prefill, with the prompt's token count.
    assert any(name.startswith("Server: prefill (") for name in segments["segment"])
    to_first_text = segments.loc[segments["part of"] == "time to first text", "ms"].sum()
    ttft_ms, ttft_step = _shown_ms(metrics["Time to first token"])
    total_ms, total_step = _shown_ms(metrics["Total time"])
    # Within 1 ms, plus the rounding of the figures on screen (the table keeps 0.01 ms per row).
    assert abs(to_first_text - ttft_ms) <= 1 + ttft_step + 0.01 * len(segments)
    assert abs(segments["ms"].sum() - total_ms) <= 1 + total_step + 0.01 * len(segments)
