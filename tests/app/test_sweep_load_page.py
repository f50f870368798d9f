"""AppTest of the Batch page's sweep load figures: goodput against SLOs, bad SLOs explained."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from components.batch_controller import job_store
from core.batch import JobStatus

PAGE = "pages/batch.py"


@pytest.mark.timeout(1200)  # real calls on 2 shared cores; the figures, not the speed, are tested
def test_a_sweep_shows_load_and_goodput_and_explains_a_bad_slo(open_page: Callable[[str], AppTest]) -> None:
    at = open_page(PAGE)
    at.sidebar.number_input(key="sidebar.max_tokens").set_value(4)
    at.number_input(key="batch.sweep_rows").set_value(2)
    at.number_input(key="batch.sweep_max_tokens").set_value(4)
    at.button(key="batch.sweep_run").click().run()
    assert not at.exception
    sweep_id = at.session_state["batch.sweep_id"]
    deadline = time.monotonic() + 600
    while not job_store().sweep(sweep_id).status.finished:
        assert time.monotonic() < deadline, "the sweep did not finish"
        time.sleep(0.5)
    at.run()
    assert job_store().sweep(sweep_id).status is JobStatus.DONE

    load = next(d.value for d in at.dataframe if "goodput / s" in d.value.columns)
    assert list(load["max_concurrency"]) == [1, 2, 4, 8]
    assert all(v.endswith("ms") for v in load["TTFT p50"])  # streamed rows: TTFT observed
    assert set(load["TTFT p90"]) == {"needs ≥ 10 runs"}  # 2 calls per level
    assert "TTFT p99" not in load.columns
    assert all("/ 2" in v for v in load["good calls"])
    assert any("Goodput peaks at max_concurrency" in c.value or "No call met" in c.value for c in at.caption)
    assert len(list(at.get("plotly_chart"))) >= 2  # the wall-time chart and the load chart

    at.number_input(key="batch.slo_ttft_ms").set_value(-5).run()
    assert any("TTFT limit must be a positive number" in w.value for w in at.warning)
    load = next(d.value for d in at.dataframe if "requests / s" in d.value.columns)
    assert "goodput / s" not in load.columns and len(load) == 4  # the figures stay, goodput waits
    at.number_input(key="batch.slo_ttft_ms").set_value(None)
    at.number_input(key="batch.slo_e2e_s").set_value(None).run()
    assert any("Set at least one SLO" in i.value for i in at.info)
