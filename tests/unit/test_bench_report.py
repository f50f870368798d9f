"""The benchmark report's verdicts: what `make bench` says was met must follow the figures.

Benchmarks are not tests (nothing here times anything); this checks the pure logic that turns
benchmark rows into the "targets at a glance" table and the chart.
"""

from __future__ import annotations

from pathlib import Path

from bench import report


def _results(*, core_first_ms: str = "+3.1 ms (target ≤ +20)", runner_wall: float = 1.3,
             cold_ratio: float = 1.21, sessions_done: int = 16) -> dict:
    return {
        "bench.stream_overhead": [
            {"path": "raw openai SDK", "median first token (ms)": 20.0, "median total (ms)": 700.0},
            {"path": "app core (StreamCapture)", "median first token (ms)": 23.0, "median total (ms)": 720.0},
            {"path": "core vs raw (median of paired runs)", "median first token (ms)": core_first_ms,
             "median total (ms)": "× 1.030 (target ≤ 1.05)"},
        ],
        "bench.throughput": [
            {"measure": "tokens/s measured by the app (chunk arrivals)", "value": 76.0},
            {"measure": "tokens/s reported by llama.cpp (timings)", "value": 78.3},
            {"measure": "ratio app / llama.cpp (target ≥ 0.9)", "value": 0.971},
        ],
        "bench.batch": [
            {"path": "c=16 · app batch runner", "ideal (s)": 1.0, "median wall (s)": runner_wall},
            {"path": "c=16 · bare llm.batch", "ideal (s)": 1.0, "median wall (s)": 1.3},
        ],
        "bench.app_paths": [
            {"measure": "first token visible in the browser (click → text)", "value": "108 ms"},
            {"measure": "  browser over raw SDK (median of paired runs)", "value": "+55 ms"},
            {"measure": "  page ÷ model alone (median of paired runs)", "value": "0.83×"},
            {"measure": "RSS growth over 100 calls", "value": "+0.1 % (545 → 545 MiB)"},
        ],
        "bench.cold_start": [
            {"app": "bare one-line Streamlit app", "× bare": ""},
            {"app": "lab ÷ bare (median of paired rounds)",
             "× bare": f"{cold_ratio:.2f}× (target ≤ 1.3×; load average 0.4)"},
        ],
        "bench.scale": [
            {"measure": "job of 1,000 rows at c = 16: wall ÷ ideal", "value": "1.031×"},
            {"measure": "job of 1,000 rows at c = 64: wall ÷ ideal", "value": "1.180×"},
            {"measure": "SQLite rows stored/s ÷ rows finished/s at c = 64", "value": "12.5×"},
            {"measure": "Batch page rerun with 1,000 rows ÷ with 10", "value": "1.40×"},
        ],
        "bench.sessions": [
            {"measure": "sessions streaming at once that finished their whole answer",
             "value": f"{sessions_done} of 16"},
            {"measure": "first text visible over the endpoint's first token: median", "value": "+80 ms"},
            {"measure": "first text visible over the endpoint's first token: p90", "value": "+190 ms"},
        ],
    }


def _verdicts(results: dict) -> dict[str, tuple[str, str]]:
    return {row["target"]: (row["measured"], row["met"]) for row in report.targets(results)}


def test_every_target_is_read_from_its_benchmark_and_judged() -> None:
    verdicts = _verdicts(_results())
    assert verdicts["streaming: core path first token over raw SDK"] == ("+3.1 ms", "yes")
    assert verdicts["streaming: core path total time ÷ raw SDK"] == ("1.030×", "yes")
    assert verdicts["streaming: first token in the browser over raw SDK"] == ("+55.0 ms", "yes")
    assert verdicts["streaming: tokens/s the page shows ÷ the model alone"] == ("0.830×", "yes")
    assert verdicts["cold start: the lab ÷ a bare Streamlit app, same chromium"] == ("1.210×", "yes")
    assert verdicts["scale: 1,000-row job ÷ ideal at c = 16"] == ("1.031×", "yes")
    assert verdicts["scale: 1,000-row job ÷ ideal at c = 64"] == ("1.180×", "NO")
    assert verdicts["scale: SQLite rows stored/s ÷ rows finished/s at c = 64"] == ("12.500×", "yes")
    assert verdicts["scale: Batch page rerun at 1,000 rows ÷ at 10"] == ("1.400×", "yes")
    assert verdicts["sessions: 16 browsers streaming at once all finish"] == (
        "16 of 16 (first text +80 ms median, +190 ms p90 over the endpoint)", "yes")
    assert verdicts["throughput: app's tokens/s ÷ llama.cpp's own"] == ("0.971×", "yes")
    assert verdicts["batch: app runner ÷ ideal at c = 16"] == ("1.300×", "NO")
    assert verdicts["batch: app runner ÷ bare llm.batch at c = 16"] == ("1.000×", "yes")
    assert verdicts["memory: RSS growth over 100 calls"] == ("+0.1 %", "yes")


def test_a_missed_target_says_no() -> None:
    verdicts = _verdicts(_results(core_first_ms="+25.0 ms (target ≤ +20)", runner_wall=1.05))
    assert verdicts["streaming: core path first token over raw SDK"][1] == "NO"
    assert verdicts["batch: app runner ÷ ideal at c = 16"][1] == "yes"


def test_issue_18_targets_say_no_when_missed() -> None:
    verdicts = _verdicts(_results(cold_ratio=1.46, sessions_done=15))
    assert verdicts["cold start: the lab ÷ a bare Streamlit app, same chromium"] == ("1.460×", "NO")
    assert verdicts["sessions: 16 browsers streaming at once all finish"][1] == "NO"
    results = _results()
    results["bench.app_paths"][1]["value"] = "+61 ms"  # the browser target is now +60 ms
    assert _verdicts(results)["streaming: first token in the browser over raw SDK"][1] == "NO"


def test_a_benchmark_that_failed_is_reported_as_not_measured_not_as_met() -> None:
    results = _results()
    results["bench.app_paths"] = "Traceback: chromium did not start"
    verdicts = _verdicts(results)
    assert verdicts["memory: RSS growth over 100 calls"] == ("not measured", "?")
    assert verdicts["streaming: first token in the browser over raw SDK"] == ("not measured", "?")
    assert verdicts["streaming: tokens/s the page shows ÷ the model alone"] == ("not measured", "?")
    for module in ("bench.cold_start", "bench.scale", "bench.sessions"):
        results[module] = "Traceback: it broke"
    verdicts = _verdicts(results)
    assert verdicts["cold start: the lab ÷ a bare Streamlit app, same chromium"] == ("not measured", "?")
    assert verdicts["scale: Batch page rerun at 1,000 rows ÷ at 10"] == ("not measured", "?")
    assert verdicts["sessions: 16 browsers streaming at once all finish"] == ("not measured", "?")


def test_report_round_trips_through_results_json_and_draws_offline(tmp_path: Path) -> None:
    saved = tmp_path / "results.json"
    report.save(_results(), ["- machine: test"], saved)
    results, machine = report.load(saved)
    assert machine == ["- machine: test"] and results == _results()
    chart = tmp_path / "results.html"
    report.write_chart(results, chart)
    assert (tmp_path / "plotly.min.js").exists()  # no CDN: the chart opens without internet
    assert "cdn.plot.ly" not in chart.read_text()
    markdown = tmp_path / "RESULTS.md"
    report.write_markdown(results, {"bench.batch": "Batch"}, machine, markdown)
    assert "## Targets at a glance" in markdown.read_text() and "## Batch" in markdown.read_text()


def test_running_some_modules_keeps_the_others_saved_figures_and_says_which_are_newer() -> None:
    from bench.__main__ import merged_with_saved

    saved = {"bench.stream_overhead": [{"path": "old"}], "bench.scale": [{"measure": "old"}]}
    results, machine = merged_with_saved(
        {"bench.scale": [{"measure": "new"}]}, saved, ["- date: 2026-12-01 10:00"], "2026-12-02 15:00"
    )
    assert results == {"bench.stream_overhead": [{"path": "old"}], "bench.scale": [{"measure": "new"}]}
    assert list(results) == ["bench.stream_overhead", "bench.scale"]  # the report's own order
    assert machine[0] == "- date: 2026-12-01 10:00"
    assert machine[-1].startswith("- bench.scale measured alone on 2026-12-02 15:00")


def test_a_second_merge_moves_a_module_to_the_newer_note() -> None:
    from bench.__main__ import merged_with_saved

    saved = {"bench.app_paths": [{"measure": "old"}], "bench.sessions": [{"measure": "old"}]}
    first_note = "- bench.app_paths, bench.sessions measured alone on 2026-12-02 18:08, merged into this report; the other modules are from the run above"
    _, machine = merged_with_saved(
        {"bench.sessions": [{"measure": "new"}]}, saved, ["- date: 2026-12-02 17:43", first_note],
        "2026-12-02 19:00",
    )
    assert machine[0] == "- date: 2026-12-02 17:43"
    assert machine[1].startswith("- bench.app_paths measured alone on 2026-12-02 18:08")
    assert machine[2].startswith("- bench.sessions measured alone on 2026-12-02 19:00")
    assert len(machine) == 3
