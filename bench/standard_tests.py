"""LangChain's standard tests as a peer check: `make standard-tests`.

Runs `langchain-tests`' `ChatModelIntegrationTests` on `ChatOpenAI` against the embedded model
(bench/standard/, with its own pytest.ini: the project's suite keeps those plugins off) and
merges the pass/fail/skip counts by group into bench/RESULTS.md, the way bench.crosscheck does:
only this section changes, every other keeps its figures, and `make bench` keeps this one
(`merged_with_saved` never drops a section it did not run). Not part of `make test`: these are
LangChain's verdicts on an endpoint, not the lab's own checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT

MODULE = "bench.standard_tests"
TITLE = "LangChain's standard tests (langchain-tests ChatModelIntegrationTests) on ChatOpenAI against the embedded model"

# Groups by the words in a test's name, first match wins (the order matters: a streamed tool
# call is a tool test).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tool calling", ("tool", "agent_loop", "bind_runnables")),
    ("structured output", ("structured", "json_mode")),
    ("multimodal inputs", ("pdf", "audio", "image", "anthropic")),
    ("usage metadata", ("usage",)),
    ("streaming", ("stream",)),
    ("calls and conversations", ("",)),
)


def group_of(test: str) -> str:
    """The group a standard test belongs to, by its name.

    Example:
        >>> group_of("test_tool_calling_async"), group_of("test_structured_output[pydantic]")
        ('tool calling', 'structured output')
        >>> group_of("test_usage_metadata_streaming"), group_of("test_invoke")
        ('usage metadata', 'calls and conversations')
    """
    name = test.lower()
    return next(group for group, words in GROUPS if any(w in name for w in words))


def counts_by_group(outcomes: dict[str, str]) -> list[dict[str, Any]]:
    """One row per group (passed, failed, skipped, the failed tests' names), then the total.

    Example:
        >>> rows = counts_by_group({"test_invoke": "passed", "test_tool_choice": "failed",
        ...                         "test_pdf_inputs": "skipped"})
        >>> [(r["group"], r["passed"], r["failed"], r["skipped"]) for r in rows]
        [('tool calling', 0, 1, 0), ('multimodal inputs', 0, 0, 1), ('calls and conversations', 1, 0, 0), ('total', 1, 1, 1)]
    """
    rows = []
    for group, _ in GROUPS:
        mine = {t: o for t, o in outcomes.items() if group_of(t) == group}
        if not mine:
            continue
        rows.append({
            "group": group,
            "passed": sum(o == "passed" for o in mine.values()),
            "failed": sum(o == "failed" for o in mine.values()),
            "skipped": sum(o == "skipped" for o in mine.values()),
            "failed tests": ", ".join(sorted(t.removeprefix("test_") for t, o in mine.items() if o == "failed")) or "—",
        })
    rows.append({"group": "total", **{k: sum(r[k] for r in rows) for k in ("passed", "failed", "skipped")},
                 "failed tests": ""})
    return rows


def run() -> list[dict[str, Any]]:
    """Run the standard tests in a child pytest and count their outcomes by group."""
    from importlib.metadata import version

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "outcomes.json"
        env = {**os.environ, "LAB_STANDARD_TESTS_OUT": str(out)}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-c", str(ROOT / "bench" / "standard" / "pytest.ini"),
             "--rootdir", str(ROOT), str(ROOT / "bench" / "standard")],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        if not out.exists():
            raise RuntimeError(f"the standard tests did not run (pytest exit {done.returncode}):\n"
                               f"{(done.stdout + done.stderr)[-1500:]}")
        outcomes = json.loads(out.read_text())
    rows = counts_by_group(outcomes)
    rows[-1]["failed tests"] = f"langchain-tests {version('langchain-tests')}, langchain-openai {version('langchain-openai')}"
    return rows
