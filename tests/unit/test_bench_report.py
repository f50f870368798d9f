"""The benchmark report's verdicts: what `make bench` says was met must follow the figures.

Benchmarks are not tests (nothing here times anything); this checks the pure logic that turns
benchmark rows into the "targets at a glance" table and the chart.
"""

from __future__ import annotations

from pathlib import Path

from bench import report


def _batch_rows(runner_wall: float) -> list[dict]:
    """bench.batch's four paths at c = 1, 4, 16; the app's runner at c = 16 takes `runner_wall`."""
    rows = []
    for c, ideal in ((1, 19.6), (4, 4.9), (16, 1.0)):
        for path, wall in (("app batch runner", runner_wall if c == 16 else ideal * 1.01),
                           ("bare llm.batch", ideal * 1.3 if c == 16 else ideal),
                           ("app async (abatch mode)", ideal * 1.01),
                           ("bare llm.abatch", ideal)):
            rows.append({"path": f"c={c} · {path}", "ideal (s)": ideal, "median wall (s)": wall})
    return rows


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
        "bench.batch": _batch_rows(runner_wall),
        "bench.app_paths": [
            {"measure": "first token visible in the browser (click → text)", "value": "108 ms"},
            {"measure": "  browser over raw SDK (median of paired runs)", "value": "+55 ms"},
            {"measure": "  floor: a one-line st.write_stream app over raw SDK, same rounds", "value": "+33 ms"},
            {"measure": "  page ÷ model alone (median of paired runs)", "value": "0.83×"},
            {"measure": "RSS growth over 100 calls", "value": "+0.1 % (545 → 545 MiB)"},
        ],
        "bench.cold_start": [
            {"app": "bare one-line Streamlit app", "× bare": ""},
            {"app": "lab ÷ bare (median of paired rounds)",
             "× bare": f"{cold_ratio:.2f}× (target ≤ 1.3×; load average 0.4)"},
        ],
        "bench.scale": [
            {"measure": "job of 1,000 rows at c = 16: wall ÷ ideal", "value": "1.031×",
             "detail": "19.9 s against 19.3 s; bare llm.batch, same rows, right after: 1.020×"},
            {"measure": "job of 1,000 rows at c = 16: wall ÷ bare llm.batch", "value": "1.011×"},
            {"measure": "job of 1,000 rows at c = 64: wall ÷ ideal", "value": "1.180×",
             "detail": "5.8 s against 4.9 s; bare llm.batch, same rows, right after: 1.117×"},
            {"measure": "job of 1,000 rows at c = 64: wall ÷ bare llm.batch", "value": "1.056×"},
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


def _verdicts(results: dict, taken: dict | None = None) -> dict[str, tuple[str, str]]:
    return {row["target"]: (row["measured"], row["met"]) for row in report.targets(results, taken)}


BROWSER = "streaming: first token in the browser over a one-line st.write_stream app's"


def test_every_target_is_read_from_its_benchmark_and_judged() -> None:
    verdicts = _verdicts(_results())
    assert verdicts["streaming: core path first token over raw SDK"] == ("+3.1 ms", "yes")
    assert verdicts["streaming: core path total time ÷ raw SDK"] == ("1.030×", "yes")
    assert verdicts[BROWSER] == ("+22.0 ms", "yes")  # +55 over the SDK against the app's +33
    assert verdicts["streaming: tokens/s the page shows ÷ the model alone"] == ("0.830×", "yes")
    assert verdicts["cold start: the lab ÷ a bare Streamlit app, same chromium"] == ("1.210×", "yes")
    # Against the bare llm.batch of the same rows in the same run (issue 34), not the ideal.
    assert verdicts["scale: 1,000-row job ÷ bare llm.batch of the same rows at c = 16"] == ("1.011×", "yes")
    assert verdicts["scale: 1,000-row job ÷ bare llm.batch of the same rows at c = 64"] == ("1.056×", "NO")
    assert verdicts["scale: SQLite rows stored/s ÷ rows finished/s at c = 64"] == ("12.500×", "yes")
    assert verdicts["scale: Batch page rerun at 1,000 rows ÷ at 10"] == ("1.400×", "yes")
    assert verdicts["sessions: 16 browsers streaming at once all finish"] == (
        "16 of 16 (first text +80 ms median, +190 ms p90 over the endpoint)", "yes")
    assert verdicts["throughput: app's tokens/s ÷ llama.cpp's own"] == ("0.971×", "yes")
    for c in (1, 4):
        assert verdicts[f"batch: app runner ÷ bare llm.batch at c = {c}"] == ("1.010×", "yes")
    assert verdicts["batch: app runner ÷ bare llm.batch at c = 16"] == ("1.000×", "yes")
    for c in (1, 4, 16):
        assert verdicts[f"async: abatch mode ÷ bare llm.abatch at c = {c}"] == ("1.010×", "yes")
    assert not any("÷ ideal" in name for name in verdicts)  # information now, not targets
    assert verdicts["memory: RSS growth over 100 calls"] == ("+0.1 %", "yes")


def test_a_missed_target_says_no() -> None:
    verdicts = _verdicts(_results(core_first_ms="+25.0 ms (target ≤ +20)", runner_wall=1.35))
    assert verdicts["streaming: core path first token over raw SDK"][1] == "NO"
    assert verdicts["batch: app runner ÷ bare llm.batch at c = 16"] == ("1.038×", "NO")


def test_the_job_over_its_floor_is_read_from_runs_that_only_wrote_it_in_the_detail() -> None:
    results = _results()
    results["bench.scale"] = [r for r in results["bench.scale"] if "÷ bare" not in r["measure"]]
    verdicts = _verdicts(results)
    assert verdicts["scale: 1,000-row job ÷ bare llm.batch of the same rows at c = 16"] == ("1.011×", "yes")
    assert verdicts["scale: 1,000-row job ÷ bare llm.batch of the same rows at c = 64"] == ("1.056×", "NO")


def test_issue_18_targets_say_no_when_missed() -> None:
    verdicts = _verdicts(_results(cold_ratio=1.46, sessions_done=15))
    assert verdicts["cold start: the lab ÷ a bare Streamlit app, same chromium"] == ("1.460×", "NO")
    assert verdicts["sessions: 16 browsers streaming at once all finish"][1] == "NO"
    results = _results()
    results["bench.app_paths"][1]["value"] = "+59 ms"  # 26 ms over the one-line app's +33
    assert _verdicts(results)[BROWSER] == ("+26.0 ms", "NO")
    results["bench.app_paths"].append(
        {"measure": "  the lab over the one-line app (the two medians above)", "value": "+24 ms"})
    assert _verdicts(results)[BROWSER] == ("+24.0 ms", "yes")  # the row itself, unrounded


def test_a_benchmark_that_failed_is_reported_as_not_measured_not_as_met() -> None:
    results = _results()
    results["bench.app_paths"] = "Traceback: chromium did not start"
    verdicts = _verdicts(results)
    assert verdicts["memory: RSS growth over 100 calls"] == ("not measured", "?")
    assert verdicts[BROWSER] == ("not measured", "?")
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


def _taken(load: list[float] | None, cores: int = 2) -> dict:
    return {"date": "2026-12-08 04:00", "cpu": "AMD EPYC", "cores": cores, "load": load}


def test_a_busy_machine_gives_no_verdict_and_says_why() -> None:
    results = _results(runner_wall=1.35)  # c = 16 runner 1.038× its floor: a miss on a quiet machine
    taken = {module: _taken([0.6, 1.4]) for module in results}
    taken["bench.batch"] = _taken([2.6, 0.8])  # more processes wanted a core than there are
    rows = {row["target"]: row for row in report.targets(results, taken)}
    batch = rows["batch: app runner ÷ bare llm.batch at c = 16"]
    assert batch["measured"] == "1.038×"  # the figure stays; only the verdict is withheld
    assert batch["met"] == "no verdict: busy machine: load average 2.6 at start (0.8 at end), on 2 cores"
    assert rows["async: abatch mode ÷ bare llm.abatch at c = 1"]["met"].startswith("no verdict")
    assert rows["cold start: the lab ÷ a bare Streamlit app, same chromium"]["met"] == "yes"
    assert batch["taken"] == "2026-12-08 04:00 · AMD EPYC, 2 cores · load average 2.6 → 0.8"
    taken["bench.batch"] = _taken([0.8, 2.6])  # a load that rose during the run is the run's own work
    assert _verdicts(results, taken)["batch: app runner ÷ bare llm.batch at c = 16"] == ("1.038×", "NO")
    taken["bench.batch"] = _taken([1.9, 2.0])  # at the core count is not above it
    assert _verdicts(results, taken)["batch: app runner ÷ bare llm.batch at c = 16"] == ("1.038×", "NO")
    taken["bench.batch"] = _taken([3.9, 3.5], cores=4)
    assert _verdicts(results, taken)["batch: app runner ÷ bare llm.batch at c = 16"][1] == "NO"


def test_a_section_without_a_recorded_load_keeps_its_verdict_and_says_the_load_is_unknown() -> None:
    rows = {row["target"]: row for row in report.targets(_results(), {"bench.batch": _taken(None)})}
    batch = rows["batch: app runner ÷ bare llm.batch at c = 16"]
    assert batch["met"] == "yes" and batch["taken"].endswith("load average not recorded")
    assert rows["memory: RSS growth over 100 calls"]["taken"] == "not recorded"


def test_each_section_says_where_it_was_measured_and_the_record_survives_results_json(tmp_path: Path) -> None:
    taken = {"bench.batch": _taken([2.5, 0.5]), "bench.scale": _taken([0.5, 0.9])}
    saved = tmp_path / "results.json"
    report.save(_results(), ["- machine: test"], saved, taken)
    assert report.load_taken(saved) == taken
    markdown = tmp_path / "RESULTS.md"
    report.write_markdown(_results(), {"bench.batch": "Batch", "bench.scale": "Scale"}, ["- machine: test"],
                          markdown, report.load_taken(saved))
    text = markdown.read_text()
    batch = text.split("## Batch")[1].split("##")[0]
    assert "Measured 2026-12-08 04:00 · AMD EPYC, 2 cores · load average 2.5 → 0.5." in batch
    assert "**Busy machine: load average 2.5 at start (0.5 at end), on 2 cores**" in batch
    scale = text.split("## Scale")[1].split("##")[0]
    assert "load average 0.5 → 0.9." in scale and "Busy" not in scale
    assert "Measured: not recorded" in text.split("## bench.sessions")[1]
    old = tmp_path / "old.json"  # written before sections kept their machine
    old.write_text('{"machine": [], "results": {}}')
    assert report.load_taken(old) == {}


def test_a_full_run_keeps_the_sections_it_does_not_run_and_names_them() -> None:
    from bench.__main__ import merged_with_saved

    saved = {"bench.batch": [{"path": "old"}], "bench.crosscheck": [{"metric": "old"}]}
    results, machine = merged_with_saved(
        {"bench.batch": [{"path": "new"}]}, saved, ["- date: 2026-12-02 01:20", "- old note"],
        "2026-12-08 04:00", machine=["- date: 2026-12-08 04:00"],
    )
    assert results == {"bench.batch": [{"path": "new"}], "bench.crosscheck": [{"metric": "old"}]}
    assert machine[0] == "- date: 2026-12-08 04:00" and "- old note" not in machine
    assert machine[1].startswith("- bench.crosscheck not rerun by the run above: kept from earlier runs")
    # A partial run of another module keeps it too (it is not in `make bench`'s list).
    partial, _ = merged_with_saved({"bench.batch": [{"path": "newer"}]}, results, machine, "2026-12-08 05:00")
    assert partial["bench.crosscheck"] == [{"metric": "old"}]
    # A later partial run of that module takes it out of the note.
    _, later = merged_with_saved({"bench.crosscheck": [{"metric": "newer"}]}, results, machine, "2026-12-08 05:00")
    assert not any("not rerun" in line for line in later)
    assert later[-1].startswith("- bench.crosscheck measured alone on 2026-12-08 05:00")


def test_a_module_that_fails_on_a_rerun_keeps_its_saved_figures_and_says_the_rerun_failed() -> None:
    from bench.__main__ import merged_taken, merged_with_saved

    saved = {"bench.scale": [{"measure": "old"}], "bench.batch": [{"path": "old"}]}
    fresh = {"bench.scale": "Traceback …\nRuntimeError: port in use", "bench.batch": [{"path": "new"}]}
    results, machine = merged_with_saved(fresh, saved, ["- date: 2026-12-04 03:40"], "2026-12-08 04:00")
    assert results["bench.scale"] == [{"measure": "old"}] and results["bench.batch"] == [{"path": "new"}]
    assert machine[-1].startswith("- bench.batch measured alone on")  # not the module that failed
    old, new = _taken(None), _taken([0.4, 0.7])
    taken = merged_taken(fresh, {"bench.scale": new, "bench.batch": new}, saved,
                         {"bench.scale": old, "bench.batch": old}, "2026-12-08 04:00")
    assert taken["bench.batch"] == new
    assert taken["bench.scale"] == {**old, "failed rerun": "2026-12-08 04:00: RuntimeError: port in use"}
    assert "A later rerun failed (2026-12-08 04:00: RuntimeError: port in use)" in report.section_note(
        taken["bench.scale"])
    # A module with nothing saved shows its error: there are no figures to keep.
    results, _ = merged_with_saved({"bench.events": "Traceback"}, saved, [], "2026-12-08 04:00")
    assert results["bench.events"] == "Traceback"


def test_a_module_run_on_demand_keeps_its_failure_apart_from_its_figures() -> None:
    # `python -m bench crosscheck` / `make standard-tests`: a module that could not run gives its
    # reason as text, which merged_with_saved never lets replace the saved figures.
    from types import SimpleNamespace

    from bench.__main__ import merged_with_saved, run_on_demand

    def cannot_run() -> list[dict[str, object]]:
        raise RuntimeError("GuideLLM could not run: no network")

    module = SimpleNamespace(MODULE="bench.crosscheck", TITLE="Cross-check", run=cannot_run)
    fresh, taken = run_on_demand(module)
    assert fresh == {"bench.crosscheck": "GuideLLM could not run: no network"}
    assert taken["bench.crosscheck"]["cores"]
    saved = {"bench.crosscheck": [{"metric": "TTFT p50", "within 10 %": "yes"}]}
    results, _ = merged_with_saved(fresh, saved, [], "2026-12-08 06:00")
    assert results["bench.crosscheck"] == saved["bench.crosscheck"]
    module.run = lambda: [{"metric": "TTFT p50", "within 10 %": "no"}]
    fresh, _ = run_on_demand(module)
    assert merged_with_saved(fresh, saved, [], "2026-12-08 06:01")[0]["bench.crosscheck"] == fresh["bench.crosscheck"]
