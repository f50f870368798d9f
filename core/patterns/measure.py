"""Repeat one streamed call N times, off the script run, and export what was measured.

`MeasureJob` runs warm-up calls (discarded) and then N measured calls one after another on a
background thread, each through `StreamCapture`, so the page only polls `snapshot()`: a rerun or
a page switch does not stop it or lose finished runs. The measured calls' traces are a
`core.call.run.Run`, whose summary gives the distributions; `runs_to_csv` / `runs_to_json` export one row per call with its marks and
metrics (the JSON also carries the definitions and the endpoint, never a key).
"""

from __future__ import annotations

import enum
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from core.call.errors import redact, redact_error
from core.call.metric_definitions import as_json as definitions_json
from core.call.run import Run
from core.call.stats import RunSummary, TokenSource
from core.export.otel import run_group
from core.patterns.streaming import StreamCapture, StreamRecord
from core.security.untrusted import csv_text

MAX_RUNS = 200
MAX_WARMUP = 10
PERCENTILE_METHOD = "linear interpolation between closest ranks (numpy's default)"


class MeasureInputError(ValueError):
    """The runs asked for cannot be run; the message says what to change."""


def check_counts(runs: object, warmup: object) -> tuple[int, int]:
    """Validate the number of measured and warm-up runs.

    Example:
        >>> check_counts(30, 2)
        (30, 2)
        >>> check_counts(0, 1)
        Traceback (most recent call last):
        ...
        core.patterns.measure.MeasureInputError: N must be at least 1 (got 0): set how many measured runs to make.
    """
    for label, value, low, high in (("N", runs, 1, MAX_RUNS), ("Warm-up runs", warmup, 0, MAX_WARMUP)):
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise MeasureInputError(f"{label} must be a whole number (got {value!r}).")
        if value < low:
            what = "set how many measured runs to make" if label == "N" else "use 0 for none"
            raise MeasureInputError(f"{label} must be at least {low} (got {int(value)}): {what}.")
        if value > high:
            raise MeasureInputError(f"{label} can be at most {high} (got {int(value)}) on this page.")
    return int(runs), int(warmup)  # type: ignore[call-overload]  # checked to be whole numbers above


class MeasurePhase(str, enum.Enum):
    WARMUP = "warm-up"
    MEASURING = "measuring"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the runner itself broke (a failed *call* is a run, not this)

    @property
    def finished(self) -> bool:
        return self in (MeasurePhase.DONE, MeasurePhase.CANCELLED, MeasurePhase.FAILED)


@dataclass(frozen=True)
class MeasureSnapshot:
    """Where a measuring job is, copied so the page can read it while the worker goes on."""

    phase: MeasurePhase
    runs: int
    warmup: int
    warmup_done: int
    records: tuple[StreamRecord, ...]
    prompt: str
    endpoint: str
    model: str
    started_at: float
    finished_at: float | None
    problem: str | None = None

    @property
    def done(self) -> int:
        return len(self.records)

    @property
    def progress(self) -> float:
        total = self.runs + self.warmup
        return (self.warmup_done + self.done) / total if total else 1.0

    @property
    def run(self) -> Run:
        """The measured calls (warm-ups left out), each its record's own trace."""
        return Run("measure", [r.trace for r in self.records])

    def summary(self) -> RunSummary:
        return self.run.summary


class MeasureJob:
    """N streamed calls of one prompt on a background thread (after `warmup` discarded ones).

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> answers = iter([AIMessage(content="one two three")] * 3)
        >>> job = MeasureJob(lambda: GenericFakeChatModel(messages=answers), "Count", runs=2, warmup=1)
        >>> job.start().join(timeout=10)
        >>> s = job.snapshot()
        >>> s.phase.value, s.warmup_done, s.done
        ('done', 1, 2)
    """

    def __init__(
        self,
        make_llm: Callable[[], BaseChatModel],
        prompt: str,
        *,
        runs: int,
        warmup: int = 1,
        config: RunnableConfig | None = None,
        secrets: tuple[str, ...] = (),
        endpoint: str = "",
        model: str = "",
    ) -> None:
        self.runs, self.warmup = check_counts(runs, warmup)
        if not prompt.strip():
            raise MeasureInputError("Type a prompt first: there is nothing to measure.")
        self._make_llm = make_llm
        self.prompt = prompt
        self.config = config
        self.secrets = secrets
        self.endpoint = endpoint
        self.model = model
        self._lock = threading.Lock()
        self._records: list[StreamRecord] = []
        self._warmup_done = 0
        self._phase = MeasurePhase.WARMUP if self.warmup else MeasurePhase.MEASURING
        self._problem: str | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = time.time()
        self._finished_at: float | None = None

    def start(self) -> threading.Thread:
        """Start the runs on a daemon thread (outside any Streamlit script run)."""
        if self._thread is not None:
            raise RuntimeError("this job has already started")
        self._thread = threading.Thread(target=self._run, name="measure", daemon=True)
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Stop after the call in flight; finished runs are kept."""
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> MeasureSnapshot:
        with self._lock:
            return MeasureSnapshot(
                phase=self._phase, runs=self.runs, warmup=self.warmup,
                warmup_done=self._warmup_done, records=tuple(self._records), prompt=self.prompt,
                endpoint=self.endpoint, model=self.model, started_at=self.started_at,
                finished_at=self._finished_at, problem=self._problem,
            )

    def _one_call(self, llm: BaseChatModel) -> StreamRecord:
        capture = StreamCapture(llm, self.prompt, self.config, secrets=self.secrets)
        for _ in capture.text_chunks():  # StreamCapture stamps each chunk; nobody draws here
            pass
        return capture.record

    def _run(self) -> None:
        # One run in an OpenTelemetry export (named by its size: the prompt is content, sent only on opt-in).
        with run_group("measure series", f"{self.runs} runs", runs=self.runs, warmup=self.warmup):
            self._run_series()

    def _run_series(self) -> None:
        phase = MeasurePhase.DONE
        try:
            llm = self._make_llm()
            for _ in range(self.warmup):
                if self._cancel.is_set():
                    break
                self._one_call(llm)  # warm-up: caches, connections; discarded
                with self._lock:
                    self._warmup_done += 1
            with self._lock:
                self._phase = MeasurePhase.MEASURING
            for _ in range(self.runs):
                if self._cancel.is_set():
                    break
                record = self._one_call(llm)
                with self._lock:
                    self._records.append(record)
            if self._cancel.is_set():
                phase = MeasurePhase.CANCELLED
        except Exception as exc:
            phase = MeasurePhase.FAILED
            with self._lock:
                self._problem = redact_error(f"{type(exc).__name__}: {exc}", *self.secrets)
        finally:
            with self._lock:
                self._phase = phase
                self._finished_at = time.time()


# -- export -----------------------------------------------------------------------------------

EXPORT_COLUMNS: tuple[str, ...] = (
    "run", "ok", "ttft_s", "tpot_s", "e2e_s", "itl_mean_s", "itl_max_s", "text_chunks",
    "output_tokens", "token_source", "output_tokens_per_s", "finish_reason", "error",
    "chunk_times_s",
)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def run_rows(records: Sequence[StreamRecord], *secrets: str) -> list[dict[str, Any]]:
    """One row per measured call: its marks (chunk arrival times) and its trace's figures.

    A figure that could not be observed is None ("not reported"), never 0. A failed call's
    figures are left empty, as they are left out of the summary.
    """
    rows = []
    for index, record in enumerate(records, start=1):
        t = record.trace
        ok = t.ok
        itl = t.itl_s if ok else ()
        source: TokenSource | None = t.token_source if ok else None
        problem = t.problem
        rows.append({
            "run": index,
            "ok": ok,
            "ttft_s": _round(t.ttft_s) if ok else None,
            "tpot_s": _round(t.tpot_s) if ok else None,
            "e2e_s": _round(t.e2e_s),
            "itl_mean_s": _round(sum(itl) / len(itl)) if itl else None,
            "itl_max_s": _round(max(itl)) if itl else None,
            "text_chunks": record.chunk_count,
            "output_tokens": t.output_tokens if ok else None,
            "token_source": None if source is None else source.value,
            "output_tokens_per_s": _round(t.output_tokens_per_s) if ok else None,
            "finish_reason": record.finish_reason,
            "error": None if problem is None else redact(problem.as_text(), *secrets),
            "chunk_times_s": [round(at, 6) for at in t.text_times_s],
        })
    return rows


def runs_to_csv(records: Sequence[StreamRecord], *secrets: str) -> str:
    """The runs as CSV; empty cells are figures not reported; chunk times joined by spaces."""
    return csv_text(
        list(EXPORT_COLUMNS),
        ({**row, "chunk_times_s": " ".join(f"{t:.6f}" for t in row["chunk_times_s"])}
         for row in run_rows(records, *secrets)),
    )


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The distributions as plain data (None where a percentile needs more runs)."""
    return {
        "calls": summary.calls,
        "failed": summary.failed,
        "usage_missing": summary.usage_missing,
        "tokens": summary.token_note,
        "metrics": {
            key: {
                "count": d.count, "mean": d.mean, "min": d.min, "max": d.max,
                **{f"p{q.p}": q.value for q in d.percentiles},
                **{f"p{q.p}_needs": q.needs for q in d.percentiles if q.value is None},
            }
            for key, d in summary.distributions.items()
        },
    }


def runs_to_json(snapshot: MeasureSnapshot, *secrets: str) -> str:
    """Every measured run with the endpoint, the model, the summary and the definitions."""
    document = {
        "kind": "execution-patterns-lab/measure",
        "endpoint": redact_error(snapshot.endpoint, *secrets),
        "model": snapshot.model,
        "prompt": redact(snapshot.prompt, *secrets),
        "runs_requested": snapshot.runs,
        "warmup_runs_discarded": snapshot.warmup_done,
        "status": snapshot.phase.value,
        "started_at": snapshot.started_at,
        "finished_at": snapshot.finished_at,
        "percentile_method": PERCENTILE_METHOD,
        "summary": summary_json(snapshot.summary()),
        "definitions": definitions_json(),
        "runs": run_rows(snapshot.records, *secrets),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)

