"""Turn the benchmarks' rows into bench/RESULTS.md, bench/results.html and bench/results.json.

`results` maps a bench module's name ("bench.batch") to its rows, or to the error text of a
module that failed. The report leads with the targets of issues #8 and #18 at a glance
(measured value, target, met or not), then every module's full table. The chart has one panel per question, in
one unit each: first token, total time, tokens/s, events/s, efficiency against the ideal, and
async speed-up. results.json keeps the rows, so `python -m bench report` redraws both files
without measuring again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.common import format_table

Rows = list[dict[str, Any]]
Results = Mapping[str, Rows | str]


def _ms(text: object) -> float | None:
    """'116 ms', '+88 ms' or '1.20 s' (as the benchmarks format durations) in milliseconds."""
    match = re.search(r"[-+]?[\d.]+", str(text))
    if not match:
        return None
    value = float(match.group())
    return value if "ms" in str(text) else value * 1000


def _number(text: object) -> float | None:
    """The first number in a figure as the benchmarks format it ('1.46× (target …)' → 1.46)."""
    match = re.search(r"[-+]?\d[\d,]*\.?\d*", str(text))
    return float(match.group().replace(",", "")) if match else None


def _rows(results: Results, module: str) -> Rows:
    rows = results.get(module)
    return rows if isinstance(rows, list) else []


def _find(rows: Rows, key: str, starts: str) -> dict[str, Any] | None:
    return next((r for r in rows if str(r.get(key, "")).strip().startswith(starts)), None)


# --- targets at a glance ------------------------------------------------------------------


def _target(name: str, measured: float | None, target: float, unit: str, *, at_most: bool) -> dict[str, Any]:
    if measured is None:
        return {"target": name, "measured": "not measured", "goal": "", "met": "?"}
    met = measured <= target if at_most else measured >= target
    sign = "≤" if at_most else "≥"
    if unit == "×":
        shown, goal = f"{measured:.3f}×", f"{sign} {target:.2f}×"
    else:  # "ms" or "%": a difference, so signed
        shown, goal = f"{measured:+.1f} {unit}", f"{sign} {target:+g} {unit}"
    return {"target": name, "measured": shown, "goal": goal, "met": "yes" if met else "NO"}


def targets(results: Results) -> Rows:
    """Each target of the benchmark issue with the figure measured for it."""
    out: Rows = []
    stream = _rows(results, "bench.stream_overhead")
    verdict = _find(stream, "path", "core vs raw")
    out.append(_target("streaming: core path first token over raw SDK",
                       _ms(verdict["median first token (ms)"]) if verdict else None, 20, "ms", at_most=True))
    total = re.search(r"[\d.]+", str(verdict["median total (ms)"])) if verdict else None
    out.append(_target("streaming: core path total time ÷ raw SDK",
                       float(total.group()) if total else None, 1.05, "×", at_most=True))
    browser = _find(_rows(results, "bench.app_paths"), "measure", "browser over raw SDK")
    out.append(_target("streaming: first token in the browser over raw SDK",
                       _ms(browser["value"]) if browser else None, 60, "ms", at_most=True))
    page_speed = _find(_rows(results, "bench.app_paths"), "measure", "page ÷ model alone")
    out.append(_target("streaming: tokens/s the page shows ÷ the model alone",
                       _number(page_speed["value"]) if page_speed else None, 0.8, "×", at_most=False))
    cold = _find(_rows(results, "bench.cold_start"), "app", "lab ÷ bare")
    out.append(_target("cold start: the lab ÷ a bare Streamlit app, same chromium",
                       _number(cold["× bare"]) if cold else None, 1.3, "×", at_most=True))
    ratio = _find(_rows(results, "bench.throughput"), "measure", "ratio app / llama.cpp")
    out.append(_target("throughput: app's tokens/s ÷ llama.cpp's own",
                       float(ratio["value"]) if ratio else None, 0.9, "×", at_most=False))
    batch = _rows(results, "bench.batch")
    runner = _find(batch, "path", "c=16 · app batch runner")
    bare = _find(batch, "path", "c=16 · bare llm.batch")
    out.append(_target("batch: app runner ÷ ideal at c = 16",
                       runner["median wall (s)"] / runner["ideal (s)"] if runner else None, 1.10, "×", at_most=True))
    out.append(_target("batch: app runner ÷ bare llm.batch at c = 16",
                       runner["median wall (s)"] / bare["median wall (s)"] if runner and bare else None,
                       1.05, "×", at_most=True))
    tracing = _find(_rows(results, "bench.trace_overhead"), "path", "traced vs untraced")
    out.append(_target("tracing: traced first token over untraced",
                       _ms(tracing["median first token (ms)"]) if tracing else None, 1, "ms", at_most=True))
    traced_total = re.search(r"[\d.]+", str(tracing["median total (ms)"])) if tracing else None
    out.append(_target("tracing: traced total ÷ untraced",
                       float(traced_total.group()) if traced_total else None, 1.02, "×", at_most=True))
    growth = _find(_rows(results, "bench.app_paths"), "measure", "RSS growth")
    match = re.search(r"[-+]?[\d.]+", str(growth["value"])) if growth else None
    out.append(_target("memory: RSS growth over 100 calls",
                       float(match.group()) if match else None, 5, "%", at_most=True))
    scale = _rows(results, "bench.scale")
    for c, goal in ((16, 1.05), (64, 1.10)):
        job = next((r for r in scale if f"at c = {c}: wall ÷ ideal" in str(r.get("measure"))), None)
        out.append(_target(f"scale: 1,000-row job ÷ ideal at c = {c}",
                           _number(job["value"]) if job else None, goal, "×", at_most=True))
    stored = _find(scale, "measure", "SQLite rows stored/s")
    out.append(_target("scale: SQLite rows stored/s ÷ rows finished/s at c = 64",
                       _number(stored["value"]) if stored else None, 10, "×", at_most=False))
    poll = _find(scale, "measure", "Batch page rerun")
    out.append(_target("scale: Batch page rerun at 1,000 rows ÷ at 10",
                       _number(poll["value"]) if poll else None, 2, "×", at_most=True))
    out.append(_sessions_target(_rows(results, "bench.sessions")))
    return out


def _sessions_target(rows: Rows) -> dict[str, Any]:
    """All sessions finished (a count, not a ratio), with the first-text figures beside it."""
    name = "sessions: 16 browsers streaming at once all finish"
    finished = _find(rows, "measure", "sessions streaming at once")
    counts = re.findall(r"\d+", str(finished["value"])) if finished else []
    if len(counts) != 2:
        return {"target": name, "measured": "not measured", "goal": "", "met": "?"}
    done, total = int(counts[0]), int(counts[1])
    median = _find(rows, "measure", "first text visible over the endpoint's first token: median")
    p90 = _find(rows, "measure", "first text visible over the endpoint's first token: p90")
    shown = f"{done} of {total}"
    if median and p90:
        shown += f" (first text {median['value']} median, {p90['value']} p90 over the endpoint)"
    return {"target": name, "measured": shown, "goal": f"all {total}",
            "met": "yes" if done == total else "NO"}


# --- the chart ----------------------------------------------------------------------------

Panel = Callable[[Results], tuple[str, str, list[Any]]]  # → (title, y axis title, traces)


def _bar(name: str, x: list[str], y: list[float | None], **kwargs: Any) -> Any:
    """Bars labelled with their values; pass `marker_color` for a one-series panel (no legend)."""
    import plotly.graph_objects as go

    return go.Bar(name=name, x=x, y=y, text=[f"{v:.3g}" if v is not None else "" for v in y],
                  textposition="outside", showlegend="marker_color" not in kwargs, **kwargs)


def _first_token(results: Results) -> tuple[str, str, list[Any]]:
    stream = _rows(results, "bench.stream_overhead")
    x, y = [], []
    for label, key in (("raw openai SDK", "raw openai SDK"), ("app core", "app core")):
        row = _find(stream, "path", key)
        if row:
            x.append(label)
            y.append(row["median first token (ms)"])
    browser = _find(_rows(results, "bench.app_paths"), "measure", "first token visible in the browser")
    if browser:
        x.append("app in the browser")
        y.append(_ms(browser["value"]))
    return "Time to first token (ms)", "ms", [_bar("first token", x, y, marker_color="#2E86DE")]


def _total(results: Results) -> tuple[str, str, list[Any]]:
    stream = _rows(results, "bench.stream_overhead")
    rows = [r for r in stream if not str(r["path"]).startswith("core vs raw")]
    return "Total time of a 64-token stream (ms)", "ms", [
        _bar("total", [str(r["path"]) for r in rows], [r["median total (ms)"] for r in rows],
             marker_color="#2E86DE")
    ]


def _throughput(results: Results) -> tuple[str, str, list[Any]]:
    rows = [r for r in _rows(results, "bench.throughput") if str(r["measure"]).startswith("tokens/s")]
    labels = ["measured by the app" if "app" in str(r["measure"]) else "llama.cpp's own" for r in rows]
    return "Embedded model: tokens per second", "tokens/s", [
        _bar("tokens/s", labels, [r["value"] for r in rows], marker_color="#10AC84")
    ]


def _events(results: Results) -> tuple[str, str, list[Any]]:
    rows = [r for r in _rows(results, "bench.events") if str(r.get("chain", "")).startswith("embedded")]
    return "Events recorder on the embedded chain (events/s)", "events/s", [
        _bar("events/s", [str(r["mode"]) for r in rows], [r["events/s"] for r in rows], marker_color="#8E44AD")
    ]


def _efficiency(results: Results) -> tuple[str, str, list[Any]]:
    import plotly.graph_objects as go

    rows = _rows(results, "bench.batch")
    by_path: dict[str, dict[str, float]] = {}
    for r in rows:
        level, _, path = str(r["path"]).partition(" · ")
        by_path.setdefault(path, {})[level] = r["median wall (s)"] / r["ideal (s)"]
    traces = [_bar(path, list(levels), list(levels.values())) for path, levels in by_path.items()]
    if rows:
        traces.append(go.Scatter(name="target at c=16 (1.10)", x=["c=16"], y=[1.10], mode="markers",
                                 marker={"symbol": "line-ew-open", "size": 60, "color": "#C0392B",
                                         "line": {"width": 3}}))
    return "Batch and async: wall time ÷ ideal (1 = ideal)", "× ideal", traces


def _speedup(results: Results) -> tuple[str, str, list[Any]]:
    rows = _rows(results, "bench.async_modes")
    situations: dict[str, dict[str, float]] = {}
    for r in rows:
        # Two short lines instead of slanted labels.
        mode = str(r["mode"]).replace("(max", "<br>(max").replace(" ", "<br>", 1)
        situations.setdefault(str(r["situation"]), {})[mode] = r["speed-up over sequential"]
    traces = [_bar(name, list(modes), list(modes.values())) for name, modes in situations.items()]
    return "Async: speed-up over invoke() in a loop", "× faster", traces


PANELS: tuple[Panel, ...] = (_first_token, _total, _throughput, _events, _efficiency, _speedup)


def write_chart(results: Results, path: Path) -> None:
    """A 3 × 2 grid of bar charts, offline: plotly.js is written beside the HTML once."""
    from plotly.subplots import make_subplots

    panels = [panel(results) for panel in PANELS]
    fig = make_subplots(rows=3, cols=2, subplot_titles=[title for title, _, _ in panels],
                        vertical_spacing=0.12, horizontal_spacing=0.08)
    for index, (_, y_title, traces) in enumerate(panels):
        row, col = index // 2 + 1, index % 2 + 1
        for trace in traces:
            fig.add_trace(trace, row=row, col=col)
        fig.update_yaxes(title_text=y_title, row=row, col=col, rangemode="tozero")
    fig.update_yaxes(range=[0, 1.3], row=3, col=1)  # efficiency: differences of a few % show
    fig.update_xaxes(tickangle=0, row=3, col=2)
    fig.update_layout(height=1300, width=1250, barmode="group", font={"size": 14},
                      title="Execution Patterns Lab — benchmarks (see RESULTS.md for every figure)",
                      legend={"orientation": "h", "y": -0.08})
    # "directory": plotly.min.js is written once next to the chart, so it opens offline and a
    # new run does not add megabytes to the repository.
    fig.write_html(path, include_plotlyjs="directory")


# --- the Markdown report and the saved rows ---------------------------------------------


def write_markdown(results: Results, titles: Mapping[str, str], machine: list[str], path: Path) -> None:
    lines = ["# Benchmark results", "", "Written by `make bench`; medians of several runs. "
             "Chart: [results.html](results.html). What each run found, why, and what was tried: "
             "[HISTORY.md](HISTORY.md) (written by hand; no run rewrites it).", ""]
    lines += [*machine, "", "## Targets at a glance", "", format_table(targets(results)), ""]
    for module, rows in results.items():
        lines += [f"## {titles.get(module, module)}", ""]
        lines += [format_table(rows) if isinstance(rows, list) else f"```\n{rows}\n```", ""]
    path.write_text("\n".join(lines))


def save(results: Results, machine: list[str], path: Path) -> None:
    path.write_text(json.dumps({"machine": machine, "results": results}, indent=1, ensure_ascii=False))


def load(path: Path) -> tuple[dict[str, Rows | str], list[str]]:
    data = json.loads(path.read_text())
    return data["results"], data["machine"]
