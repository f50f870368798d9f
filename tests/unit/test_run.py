"""A run of calls: its aggregate from the calls' traces, and the one place a call's figures live.

The traces are written by hand (marks on a made-up clock), so each rule of the aggregate can
fail on its own: wall time and peak in flight from the calls' spans, distributions that leave
failed calls out, tokens and cost that say "not reported" instead of 0, failures by cause.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.call.errors import CallProblem
from core.call.run import Run
from core.call.stats import Slo
from core.call.trace import COMPLETE, FAILED, CallTrace, Outcome, StreamChunk, TokenSource
from core.call.usage import Usage
from core.money.costs import run_cost_usd, run_unpriced
from core.money.pricing import ModelPrice, PriceTable

CORE = Path(__file__).resolve().parents[2] / "core"
TIMEOUT = CallProblem("timeout", "Timed out after 2 retries", "read timed out", "Raise the timeout.")
AUTH = CallProblem("auth", "Wrong or missing API key (HTTP 401)", "bad key", "Check the key.")


def streamed(origin: float, texts: list[float], end: float, *, usage: Usage | None = None,
             model: str = "m", problem: CallProblem | None = None) -> CallTrace:
    """A streamed call: a role chunk, text chunks at `texts`, done at `end`."""
    chunks = [StreamChunk(origin + 0.01, "")] + [StreamChunk(at, "tok") for at in texts]
    status = FAILED if problem is not None else COMPLETE
    return CallTrace("r", origin=origin, lc_start=origin + 0.002, finished=end, streamed=True,
                     chunks=chunks, model_requested=model,
                     outcome=Outcome(status, text="tok" * len(texts), usage=usage, finish_reason="stop",
                                     problem=problem))


# --- one call: the trace's own figures ---------------------------------------------------------


def test_a_trace_derives_every_figure_from_its_marks() -> None:
    t = streamed(10.0, [10.2, 10.3, 10.5], 10.6, usage=Usage(7, 4, 11))
    assert t.ttft_s == pytest.approx(0.2)
    assert t.e2e_s == pytest.approx(0.6)
    assert t.itl_s == pytest.approx((0.1, 0.2))
    assert t.output_tokens == 4 and t.token_source is TokenSource.USAGE  # reported beats counted
    assert t.tpot_s == pytest.approx((0.6 - 0.2) / 3)
    assert t.output_tokens_per_s == pytest.approx(3 / 0.3)
    assert (t.finish_reason, t.usage, t.text) == ("stop", Usage(7, 4, 11), "toktoktok")


def test_without_usage_tokens_are_counted_and_usage_is_not_reported() -> None:
    t = streamed(0.0, [0.1, 0.2], 0.3)
    assert t.usage is None  # "not reported", never a zero Usage
    assert t.output_tokens == 2 and t.token_source is TokenSource.CHUNKS and not t.usage_reported


def test_a_whole_answer_has_no_ttft_and_a_running_call_no_e2e() -> None:
    whole = CallTrace("r", origin=0.0, lc_end=0.8, outcome=Outcome(COMPLETE, text="hi", usage=Usage(3, 1, 4)))
    assert whole.ttft_s is None and whole.e2e_s == pytest.approx(0.8) and whole.itl_s == ()
    running = CallTrace("r", origin=0.0, chunks=[StreamChunk(0.2, "a")])
    assert running.ttft_s == pytest.approx(0.2) and running.status == "running"
    assert running.e2e_s == pytest.approx(0.2)  # its end so far is its last chunk


# --- a run: the aggregate ---------------------------------------------------------------------


def test_wall_time_and_peak_in_flight_come_from_the_calls_spans() -> None:
    loop = Run.of([streamed(0.0, [0.1], 1.0), streamed(1.0, [1.1], 2.0), streamed(2.0, [2.1], 3.0)], "loop")
    assert loop.wall_s == pytest.approx(3.0) and loop.peak_in_flight == 1
    together = Run("gather", [streamed(0.0, [0.1], 1.0), streamed(0.05, [0.2], 1.2), streamed(0.1, [0.3], 0.5)])
    assert together.wall_s == pytest.approx(1.2) and together.peak_in_flight == 3
    assert together.sum_e2e_s == pytest.approx(1.0 + 1.15 + 0.4)
    assert together.average_in_flight == pytest.approx((1.0 + 1.15 + 0.4) / 1.2)


def test_a_runner_that_knows_its_own_start_and_end_sets_the_wall_time() -> None:
    run = Run("mode", [streamed(0.5, [0.6], 1.0)], started=0.0, ended=1.5)
    assert run.wall_s == pytest.approx(1.5)
    assert Run("empty").wall_s is None and Run("empty").peak_in_flight == 0


def test_calls_added_as_they_finish_update_the_aggregate() -> None:
    run = Run("measure")
    assert run.count == 0 and run.summary.calls == 0
    run.add(streamed(0.0, [0.2, 0.3], 0.4))
    assert run.distribution("ttft_s").values == pytest.approx((0.2,))
    run.add(streamed(1.0, [1.4, 1.5], 1.6))
    assert run.distribution("ttft_s").values == pytest.approx((0.2, 0.4))
    assert run.distribution("ttft_s").at(50).value == pytest.approx(0.3)
    assert run.distribution("itl_s").count == 2  # every gap of every call, pooled


def test_failed_calls_are_counted_and_left_out_of_every_distribution() -> None:
    run = Run("series", [streamed(0.0, [0.1, 0.2], 0.3), streamed(1.0, [1.9], 6.0, problem=TIMEOUT)])
    assert (run.count, run.succeeded, run.failed) == (2, 1, 1)
    assert run.summary.failed == 1 and run.distribution("e2e_s").values == pytest.approx((0.3,))
    assert run.outcome_label == "finished with failures"


def test_a_call_still_running_is_neither_failed_nor_in_the_distributions() -> None:
    live = CallTrace("r", origin=0.0, chunks=[StreamChunk(0.3, "a")])
    run = Run("live", [streamed(0.0, [0.1], 0.2), live])
    assert (run.count, run.running, run.failed) == (2, 1, 0)
    assert run.distribution("ttft_s").values == pytest.approx((0.1,))


def test_failures_are_grouped_by_cause_with_a_label() -> None:
    run = Run("job", [streamed(0.0, [], 1.0, problem=TIMEOUT), streamed(0.0, [], 1.0, problem=AUTH),
                      streamed(0.0, [], 1.0, problem=TIMEOUT), streamed(0.0, [0.1], 0.2)])
    assert [(g.kind, g.count) for g in run.failures] == [("timeout", 2), ("auth", 1)]
    assert run.failure_line("row").startswith("3 of 4 rows failed: timed out × 2")
    assert Run("ok", [streamed(0.0, [0.1], 0.2)]).failure_line() == ""


def test_tokens_are_summed_from_usage_and_not_reported_without_it() -> None:
    run = Run("r", [streamed(0.0, [0.1], 0.2, usage=Usage(10, 3, 13)), streamed(0.0, [0.1], 0.2, usage=Usage(5, 2, 7)),
                    streamed(0.0, [0.1], 0.2)])
    assert (run.input_tokens, run.output_tokens, run.usage_missing) == (15, 5, 1)
    bare = Run("r", [streamed(0.0, [0.1], 0.2)])
    assert bare.input_tokens is None and bare.output_tokens is None  # not reported, not 0


def test_cost_sums_the_priced_calls_and_counts_the_others() -> None:
    table = PriceTable((ModelPrice("m", "openai", 2.0, None, 4.0),), as_of="2026-11-24", source="test")
    run = Run("r", [streamed(0.0, [0.1], 0.2, usage=Usage(500_000, 250_000, 750_000)),
                    streamed(0.0, [0.1], 0.2),  # no usage reported
                    streamed(0.0, [0.1], 0.2, usage=Usage(1, 1, 2), model="unknown-model")])
    assert run_cost_usd(run, table) == pytest.approx(1.0 + 1.0)
    assert run_unpriced(run, table) == 2
    assert run_cost_usd(Run("r", [streamed(0.0, [0.1], 0.2)]), table) is None  # not $0


def test_goodput_reads_the_calls_and_the_runs_wall_time() -> None:
    run = Run("r", [streamed(0.0, [0.1], 0.5), streamed(0.0, [0.9], 1.0), streamed(0.0, [0.1], 2.0, problem=TIMEOUT)])
    g = run.goodput(Slo(ttft_ms=500))
    assert (g.good, g.calls) == (1, 3) and g.rate_per_s == pytest.approx(1 / 2.0)


# --- one derivation: the rule that keeps it so -------------------------------------------------


_TTFT_NAME = re.compile(r"ttft|time_to_first_token|first_token_s")


def _computes(node: ast.AST) -> bool:
    """Whether an expression subtracts or measures from an origin (`rel`): a derivation."""
    return any(
        (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub))
        or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "rel")
        for n in ast.walk(node)
    )


def test_ttft_is_derived_in_exactly_one_function_in_core() -> None:
    derivations = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            named: list[tuple[str, ast.AST]] = []
            if isinstance(node, ast.FunctionDef) and _TTFT_NAME.search(node.name):
                named.append((node.name, node))
            elif isinstance(node, ast.Assign):
                named += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name) and _TTFT_NAME.search(t.id)]
            elif isinstance(node, ast.keyword) and node.arg and _TTFT_NAME.search(node.arg):
                named.append((node.arg, node.value))
            derivations += [f"{path.relative_to(CORE)}:{getattr(n, 'lineno', '?')} {name}"
                            for name, n in named if _computes(n)]
    found = [(d.split(":")[0], d.split()[-1]) for d in derivations]
    assert found == [("call/trace.py", "ttft_s")], derivations


#: The classes in core/ that may hold or compute a call's timing figures (issue 29): the call
#: trace, a run's aggregate (and a load run reading its `Run`'s), SLO thresholds, the server's
#: own report, the anatomy, and a batch row as the store keeps it. Any other record holds a
#: trace and reads it.
MAY_HOLD_TIMINGS = {"CallTrace", "Run", "LoadRun", "Slo", "ServerReport", "Anatomy", "RowResult"}
_TIMING_NAME = re.compile(r"ttft|first_token|tokens_per_s|(^|_)itl(_|$)|tpot|e2e|latency_s|total_s", re.I)


def _timing_names(cls: ast.ClassDef) -> list[str]:
    names = []
    for item in cls.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.append(item.target.id)
        elif isinstance(item, ast.FunctionDef) and any(
            isinstance(d, ast.Name) and d.id in ("property", "cached_property") for d in item.decorator_list
        ):
            names.append(item.name)
    return [n for n in names if _TIMING_NAME.search(n)]


def test_only_the_trace_the_run_and_their_kin_hold_timing_figures() -> None:
    holders = {}
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and _timing_names(node):
                holders[node.name] = f"{path.relative_to(CORE)}: {', '.join(_timing_names(node))}"
    extra = {name: where for name, where in holders.items() if name not in MAY_HOLD_TIMINGS}
    assert not extra, f"hold a trace and read its figures instead: {extra}"
    assert "CallTrace" in holders and "Run" in holders  # the rule still sees the two that must
