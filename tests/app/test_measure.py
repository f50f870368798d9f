"""AppTest of the Streaming page's Measure section: the real page, the real embedded model."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from components.measure_view import JOB_KEY
from core.patterns.measure import MeasureJob


def _wait_for_the_runs(at: AppTest, limit_s: float = 1100) -> None:
    # The runs go on on a worker thread; a real browser polls them with a fragment, AppTest
    # has to rerun the script itself.
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = at.session_state[JOB_KEY]
        if not job.running:
            break
        time.sleep(0.5)
    at.run()


@pytest.mark.timeout(1200)  # real calls on 2 shared cores; the figures, not the speed, are tested
def test_measured_runs_show_p50_p90_and_the_definitions(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(4)
    at.text_area(key="streaming.prompt").set_value("Name a colour.")
    at.number_input(key="streaming.measure_runs").set_value(10)
    at.number_input(key="streaming.measure_warmup").set_value(1)
    at.button(key="streaming.measure_run").click().run()
    assert not at.exception
    _wait_for_the_runs(at)
    assert not at.exception

    job = at.session_state[JOB_KEY]
    assert isinstance(job, MeasureJob)
    snapshot = job.snapshot()
    assert (snapshot.done, snapshot.warmup_done, snapshot.phase.value) == (10, 1, "done")

    tables = [t.value for t in at.table]
    stats = next(t for t in tables if "p90" in t.columns)
    ttft = stats.loc["TTFT"]
    assert ttft["n"] == "10"
    assert ttft["p50"].endswith("ms") and ttft["p90"].endswith("ms")
    assert ttft["p99"] == "needs ≥ 100 runs"
    definitions = [t for t in tables if "this lab" in t.columns]  # one tab per tool
    assert all({"TTFT", "ITL", "TPOT", "Goodput"} <= set(t.index) for t in definitions)
    tools = {c for t in definitions for c in t.columns} - {"this lab", "read in"}
    assert tools == {"vLLM bench serve", "GuideLLM", "llmperf", "AIPerf"}
    assert all(t["read in"].str.contains("@").all() for t in definitions)  # file · function @ commit
    assert len(at.get("plotly_chart")) >= 1

    # A rerun from any widget keeps the finished runs on screen.
    at.sidebar.slider(key="sidebar.temperature").set_value(0.3).run()
    assert any("p90" in t.value.columns for t in at.table)


def test_zero_runs_gets_a_clear_message_and_keeps_nothing_running(open_page: Callable[[str], AppTest]) -> None:
    at = open_page("pages/streaming.py")
    at.number_input(key="streaming.measure_runs").set_value(0)
    at.button(key="streaming.measure_run").click().run()
    assert not at.exception
    assert any("N must be at least 1" in w.value for w in at.warning)
    assert JOB_KEY not in at.session_state
