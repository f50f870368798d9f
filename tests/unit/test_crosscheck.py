"""The cross-check's comparison rows: ratios, the 10 % margin, and an explanation past it."""

from __future__ import annotations

import pytest

from bench.crosscheck import WHY, compare


def test_rows_carry_ratios_and_explain_only_the_differences_over_ten_percent() -> None:
    lab = {"ttft": [100.0, 110.0, 120.0], "itl": [10.0, 10.0, 40.0], "tpot": [12.0, 12.0, 13.0],
           "e2e": [300.0, 310.0, 320.0], "failed": [0.0]}
    guide = {"ttft": [100.0, 110.0, 120.0], "itl": [12.0, 12.5, 13.0], "e2e": [200.0, 210.0, 220.0],
             "own": {("ttft", "p50"): 110.0}}
    rows = {r["metric"]: r for r in compare(lab, guide)}
    assert rows["TTFT p50"]["lab / GuideLLM"] == pytest.approx(1.0)
    assert rows["TTFT p50"]["within 10 %"] == "yes" and rows["TTFT p50"]["why, when not"] == ""
    assert rows["TTFT p50"]["GuideLLM own pctl (ms)"] == 110.0
    assert rows["e2e p50"]["lab / GuideLLM"] == pytest.approx(310 / 210)
    assert rows["e2e p50"]["within 10 %"] == "no" and rows["e2e p50"]["why, when not"] == WHY["e2e"]
    assert rows["TPOT (lab) vs GuideLLM ITL p50"]["lab (ms)"] == 12.0


def test_a_missing_figure_is_not_a_ratio() -> None:
    lab = {"ttft": [], "itl": [], "tpot": [], "e2e": [1.0], "failed": [0.0]}
    guide = {"ttft": [5.0], "itl": [], "e2e": [1.0], "own": {}}
    rows = {r["metric"]: r for r in compare(lab, guide)}
    assert rows["TTFT p50"]["lab / GuideLLM"] is None and rows["TTFT p50"]["within 10 %"] == "?"
