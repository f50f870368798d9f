"""Shared benchmark helpers: medians and a plain-text table.

Each bench module exposes `run() -> list[dict]` (one dict per table row) and prints its table
when run as a script, so `python -m bench` can collect every module's rows into one report.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
# The prompts the paired stream benchmarks (stream, trace and OpenTelemetry overhead) send, so
# their figures stay comparable with each other.
STREAM_PROMPTS = (
    "Tell me a joke about a cat who learns to cook.",
    "Explain in two sentences how a rainbow forms.",
    "List three tips for a good presentation.",
)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.export.langsmith import switch_tracing_off  # noqa: E402 - needs ROOT on sys.path
from core.export.otel import switch_export_off  # noqa: E402 - needs ROOT on sys.path

# Benchmarks measure the app, not LangSmith uploads: no traces, whatever the shell exports. Every
# bench module imports this one (`make bench` and a module run alone); the app and browser
# processes they start inherit the setting.
switch_tracing_off()
switch_export_off()  # nor OpenTelemetry export (bench/otel_overhead.py turns its own on)


S = TypeVar("S")


def paired_rounds(
    first: Callable[[str], S], second: Callable[[str], S], prompts: Sequence[str], rounds: int
) -> tuple[list[S], list[S]]:
    """Run two paths on every prompt for `rounds` rounds, alternating which goes first.

    Returns the samples of each path in the same order, so `zip` pairs the runs of one prompt
    in one round: a machine that drifts mid-run moves both sides of each pair.
    """
    a: list[S] = []
    b: list[S] = []
    for round_no in range(rounds):
        for prompt in prompts:
            if round_no % 2:
                b.append(second(prompt))
                a.append(first(prompt))
            else:
                a.append(first(prompt))
                b.append(second(prompt))
    return a, b


def median(values: Iterable[float]) -> float:
    """Median of the values (the benchmark's summary statistic: robust to one slow run)."""
    return float(statistics.median(list(values)))


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it ("unknown CPU" where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def load_average() -> float:
    """The machine's 1-minute load average: how many processes wanted a core, lately."""
    return os.getloadavg()[0]


def format_table(rows: Sequence[dict[str, object]]) -> str:
    """Rows of dicts as a Markdown table (floats to 3 significant decimals)."""
    if not rows:
        return "(no rows)"
    headers = list(rows[0])
    for row in rows[1:]:
        headers += [h for h in row if h not in headers]

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(row.get(h)) for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def print_table(title: str, rows: Sequence[dict[str, object]]) -> None:
    print(f"\n## {title}\n")
    print(format_table(rows))
