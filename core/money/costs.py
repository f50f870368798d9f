"""The session ledger priced: cost per call, totals, chart series and CSV export.

Costs are computed when shown, from whichever price table is current, so editing a price
re-prices every call already made. Two kinds of unknown are kept apart from zero:

* a call whose endpoint reported no usage ("not reported"): its tokens and cost are unknown;
* a call on a model the table has no price for ("no price"): its tokens count, its cost does not.

Totals say how many calls fall in each group instead of silently adding them as $0.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.call.run import Run
from core.call.trace import CallTrace
from core.money.ledger import CallRecord
from core.money.pricing import CostBreakdown, ModelPrice, PriceTable, call_cost, format_usd
from core.security.untrusted import csv_text

NOT_REPORTED = "not reported"
NO_PRICE = "no price"


@dataclass(frozen=True)
class CostedCall:
    """A ledger record with its price and cost under a given price table.

    Attributes:
        record: the call as the ledger holds it.
        price: the matching price row, or None when the table has no price for the model.
        cost: the cost, or None when usage was not reported or there is no price.
    """

    record: CallRecord
    price: ModelPrice | None
    cost: CostBreakdown | None

    @property
    def cost_usd(self) -> float | None:
        if self.record.cache_hit:  # answered from the cache: nothing was sent, nothing billed
            return 0.0
        return self.cost.total_usd if self.cost else None

    @property
    def cost_label(self) -> str:
        """'$0.000123', 'no price' or 'not reported' — never a made-up $0."""
        if self.record.cache_hit:
            return "$0 (cache hit)"
        if self.record.usage is None:
            return NOT_REPORTED
        if self.price is None:
            return NO_PRICE
        return format_usd(self.cost_usd)


def cost_calls(records: Iterable[CallRecord], table: PriceTable) -> list[CostedCall]:
    """Price every record with ``table``.

    Example:
        >>> from core.money.pricing import load_price_table
        >>> from core.call.usage import Usage
        >>> from core.call.trace import CallTrace, Outcome
        >>> rec = CallRecord(CallTrace("r1", model_requested="SmolLM2-135M-Instruct",
        ...                            outcome=Outcome("complete", usage=Usage(10, 5, 15))))
        >>> cost_calls([rec], load_price_table())[0].cost_label
        '$0.00'
    """
    out: list[CostedCall] = []
    for record in records:
        price = table.price_for(record.model)
        billed = record.usage is not None and price is not None and not record.cache_hit
        cost = call_cost(record.usage, price) if billed else None  # type: ignore[arg-type]  # billed implies usage is not None
        out.append(CostedCall(record, price, cost))
    return out


@dataclass(frozen=True)
class SessionTotals:
    """Totals over the calls that reported usage, with counts of those that did not.

    Attributes:
        calls: every call in the ledger, failed ones included.
        usage_reported: calls whose usage is known (their tokens are in the sums).
        usage_missing: calls without usage (left out of the sums, not counted as zero).
        streamed_without_usage: streamed calls among ``usage_missing``.
        errors: calls that failed.
        cost_usd: summed over calls with usage and a price.
        priced_calls: how many calls ``cost_usd`` covers.
        unpriced_models: models with reported usage but no price in the table.
        cache_hits: calls answered from LangChain's cache: in ``calls``, not in the token sums
            or the spend (no request was sent).
    """

    calls: int = 0
    usage_reported: int = 0
    usage_missing: int = 0
    streamed_without_usage: int = 0
    errors: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    priced_calls: int = 0
    unpriced_calls: int = 0
    unpriced_models: tuple[str, ...] = ()
    cache_hits: int = 0

    @property
    def cost_complete(self) -> bool:
        """True when every call's cost is known (so the total is the whole spend)."""
        return self.usage_missing == 0 and self.unpriced_calls == 0

    def summary(self) -> str:
        """One line, e.g. '3 calls · 412 tokens · $0.00 · 1 without usage'.

        Example:
            >>> SessionTotals(calls=2, usage_reported=1, usage_missing=1, total_tokens=40,
            ...               priced_calls=1).summary()
            '2 calls · 40 tokens · $0.00 · 1 without usage'
        """
        if self.calls == 0:
            return "no calls yet"
        parts = [
            f"{self.calls:,} call{'s' if self.calls != 1 else ''}",
            f"{self.total_tokens:,} tokens",
            format_usd(self.cost_usd) if self.priced_calls
            else NO_PRICE if self.usage_reported else "cost unknown",
        ]
        if self.usage_missing:
            parts.append(f"{self.usage_missing:,} without usage")
        if self.unpriced_calls and self.priced_calls:
            parts.append(f"{self.unpriced_calls:,} without price")
        if self.cache_hits:
            parts.append(f"{self.cache_hits:,} from the cache (not billed)")
        return " · ".join(parts)


def session_totals(costed: Iterable[CostedCall]) -> SessionTotals:
    """Sum tokens and cost; count what could not be summed.

    Example:
        >>> from core.call.usage import Usage
        >>> from core.money.pricing import PriceTable, ModelPrice
        >>> table = PriceTable((ModelPrice("m", "x", 1.0, None, 2.0),), "today", "example")
        >>> from core.call.trace import CallTrace, Outcome
        >>> recs = [CallRecord(CallTrace("a", model_requested="m", outcome=Outcome("complete", usage=Usage(1_000, 500, 1_500)))),
        ...         CallRecord(CallTrace("b", model_requested="m", streamed=True, outcome=Outcome("complete")))]
        >>> t = session_totals(cost_calls(recs, table))
        >>> t.total_tokens, t.cost_usd, t.usage_missing, t.streamed_without_usage
        (1500, 0.002, 1, 1)
    """
    calls = reported = missing = streamed_missing = errors = priced = unpriced = cache_hits = 0
    tokens = {"in": 0, "cached": 0, "out": 0, "reasoning": 0, "total": 0}
    cost = 0.0
    unpriced_models: list[str] = []
    for item in costed:
        record = item.record
        calls += 1
        errors += record.error is not None
        usage = record.usage
        if record.cache_hit:
            # No request was sent: its tokens (the first call's) are not spend. Counted apart.
            cache_hits += 1
            continue
        if usage is None:
            # A failed call has no usage either; only count real "not reported" answers.
            if record.error is None:
                missing += 1
                streamed_missing += record.streamed
            continue
        reported += 1
        tokens["in"] += usage.input_tokens
        tokens["cached"] += usage.cached_input_tokens
        tokens["out"] += usage.output_tokens
        tokens["reasoning"] += usage.reasoning_tokens
        tokens["total"] += usage.total_tokens
        if item.cost is not None:
            priced += 1
            cost += item.cost.total_usd
        else:
            unpriced += 1
            if record.model not in unpriced_models:
                unpriced_models.append(record.model)
    return SessionTotals(
        calls=calls,
        usage_reported=reported,
        usage_missing=missing,
        streamed_without_usage=streamed_missing,
        errors=errors,
        input_tokens=tokens["in"],
        cached_input_tokens=tokens["cached"],
        output_tokens=tokens["out"],
        reasoning_tokens=tokens["reasoning"],
        total_tokens=tokens["total"],
        cost_usd=cost,
        priced_calls=priced,
        unpriced_calls=unpriced,
        unpriced_models=tuple(unpriced_models),
        cache_hits=cache_hits,
    )


def cumulative_cost(costed: Iterable[CostedCall]) -> list[tuple[float, float]]:
    """(end time, running total in USD) after each priced call, in order of completion.

    Calls without usage or price do not move the line: their cost is unknown, not zero.
    """
    priced = sorted(
        (c.record.started_at + (c.record.trace.e2e_s or 0.0), c.cost.total_usd)
        for c in costed
        if c.cost is not None
    )
    points: list[tuple[float, float]] = []
    running = 0.0
    for ended_at, usd in priced:
        running += usd
        points.append((ended_at, running))
    return points


def tokens_by_pattern(costed: Iterable[CostedCall]) -> dict[str, dict[str, int]]:
    """Input and output tokens per page ("pattern"), from calls that reported usage.

    Example:
        >>> from core.call.usage import Usage
        >>> from core.call.trace import CallTrace, Outcome
        >>> recs = [CallRecord(CallTrace(run, pattern="batch", outcome=Outcome("complete", usage=usage)))
        ...         for run, usage in (("a", Usage(10, 5, 15)), ("b", Usage(1, 2, 3)))]
        >>> tokens_by_pattern(cost_calls(recs, PriceTable((), "", "")))
        {'batch': {'input': 11, 'output': 7, 'calls': 2}}
    """
    out: dict[str, dict[str, int]] = {}
    for item in costed:
        usage = item.record.usage
        if usage is None or item.record.cache_hit:  # a cache hit's tokens were not billed
            continue
        entry = out.setdefault(item.record.pattern, {"input": 0, "output": 0, "calls": 0})
        entry["input"] += usage.input_tokens
        entry["output"] += usage.output_tokens
        entry["calls"] += 1
    return out


def cost_by_model(costed: Iterable[CostedCall]) -> dict[str, float | None]:
    """USD per model; None for a model with reported usage but no price."""
    out: dict[str, float | None] = {}
    for item in costed:
        if item.record.usage is None or item.record.cache_hit:  # a cache hit cost nothing
            continue
        model = item.record.model
        if item.cost is None:
            out.setdefault(model, None)
            continue
        out[model] = (out.get(model) or 0.0) + item.cost.total_usd
    return out


LEDGER_COLUMNS = (
    "time",
    "pattern",
    "model",
    "usage",
    "cost",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "latency_s",
    "finish_reason",
    "provider",
    "streamed",
    "error",
)


def ledger_rows(costed: Iterable[CostedCall]) -> list[dict[str, Any]]:
    """One dict per call with `LEDGER_COLUMNS`; unknown numbers are None, never 0."""
    rows: list[dict[str, Any]] = []
    for item in costed:
        r = item.record
        u = r.usage
        rows.append(
            {
                "time": time.strftime("%H:%M:%S", time.localtime(r.started_at)),
                "pattern": r.pattern,
                "provider": r.provider,
                "model": r.model,
                "usage": "cache hit · not billed" if r.cache_hit else "reported" if u else NOT_REPORTED,
                "input_tokens": u.input_tokens if u else None,
                "cached_input_tokens": u.cached_input_tokens if u else None,
                "output_tokens": u.output_tokens if u else None,
                "reasoning_tokens": u.reasoning_tokens if u else None,
                "total_tokens": u.total_tokens if u else None,
                "cost_usd": item.cost_usd,
                "cost": "failed" if r.error and not u else item.cost_label,
                "latency_s": None if r.trace.e2e_s is None else round(r.trace.e2e_s, 3),
                "finish_reason": r.finish_reason,
                "streamed": r.streamed,
                "error": _readable_error(r.error),
            }
        )
    return rows


def _readable_error(error: str | None) -> str | None:
    # LangChain reports a stream abandoned by its consumer (a Streamlit rerun or a page change
    # stops the script mid-stream) as a GeneratorExit error with no message.
    if error and error.startswith("GeneratorExit"):
        return "interrupted: the stream was stopped before it finished (page rerun or left)"
    return error


def ledger_csv(costed: Iterable[CostedCall], table: PriceTable) -> str:
    """The priced ledger as CSV, with the price list's date in a trailing column.

    Holds only what the ledger holds — no prompts, answers, keys or base URLs. A blank
    ``cost_usd`` means unknown (see the ``cost`` column for why), never zero.
    """
    rows = []
    for row in ledger_rows(costed):
        values = [row[c] for c in LEDGER_COLUMNS]
        if row["cost_usd"] is not None:
            values[LEDGER_COLUMNS.index("cost_usd")] = f"{row['cost_usd']:.10f}"
        rows.append([*values, table.as_of])
    return csv_text([*LEDGER_COLUMNS, "prices_as_of"], rows, line_end="\n")


@dataclass(frozen=True)
class UsageCrossCheck:
    """LangChain's `UsageMetadataCallbackHandler` against the ledger, for the same calls.

    Attributes:
        langchain_tokens: total tokens LangChain's handler summed.
        langchain_models: the model names it keyed them by.
        ledger_tokens: total tokens the ledger recorded for the same calls.
        calls_without_model_name: calls with usage whose response named no model; LangChain's
            handler drops these (it keys usage by model name), the ledger keeps them.
        calls_without_usage: calls neither counts tokens for.
    """

    langchain_tokens: int
    langchain_models: tuple[str, ...]
    ledger_tokens: int
    calls_without_model_name: int
    calls_without_usage: int

    @property
    def agrees(self) -> bool:
        return self.langchain_tokens == self.ledger_tokens

    @property
    def tokens_dropped_by_langchain(self) -> int:
        return self.ledger_tokens - self.langchain_tokens

    def explanation(self) -> str:
        """A sentence for the page."""
        lc = f"LangChain's usage callback counted {self.langchain_tokens:,} tokens"
        if self.agrees:
            text = f"{lc}; the ledger counted the same."
        else:
            text = (
                f"{lc}, the ledger {self.ledger_tokens:,}. "
                f"{self.calls_without_model_name} call(s) came back without a model name: "
                "LangChain's handler keys usage by model name and drops those; the ledger keeps "
                "them under the model that was requested."
            )
        if self.calls_without_usage:
            text += f" {self.calls_without_usage} call(s) reported no usage: neither can count them."
        return text


def cross_check(records: Iterable[CallRecord], langchain_usage: Mapping[str, Mapping[str, Any]]) -> UsageCrossCheck:
    """Compare the ledger's records of some calls with LangChain's handler for the same calls.

    Args:
        records: the ledger records made while the handler was attached.
        langchain_usage: ``UsageMetadataCallbackHandler().usage_metadata`` (model → usage).

    Example:
        >>> from core.call.usage import Usage
        >>> from core.call.trace import CallTrace, Outcome
        >>> recs = [CallRecord(CallTrace("a", model_requested="m", outcome=Outcome("complete", usage=Usage(3, 4, 7), model="m"))),
        ...         CallRecord(CallTrace("b", model_requested="m", outcome=Outcome("complete", usage=Usage(1, 1, 2))))]
        >>> check = cross_check(recs, {"m": {"total_tokens": 7}})
        >>> check.agrees, check.tokens_dropped_by_langchain, check.calls_without_model_name
        (False, 2, 1)
    """
    records = list(records)
    ledger_tokens = sum(r.usage.total_tokens for r in records if r.usage is not None)
    langchain_tokens = sum(int(u.get("total_tokens") or 0) for u in langchain_usage.values())
    return UsageCrossCheck(
        langchain_tokens=langchain_tokens,
        langchain_models=tuple(langchain_usage),
        ledger_tokens=ledger_tokens,
        calls_without_model_name=sum(
            1 for r in records if r.usage is not None and not r.model_reported
        ),
        calls_without_usage=sum(1 for r in records if r.usage is None and r.error is None),
    )


def run_cost_usd(run: Run, prices: PriceTable) -> float | None:
    """The price of a run's calls that can be priced (usage reported and a price for the model
    that answered); None when none can. `run_unpriced` says how many were left out.

    Example:
        >>> from core.money.pricing import ModelPrice, PriceTable
        >>> from core.call.run import Run
        >>> from core.call.trace import CallTrace, Outcome
        >>> from core.call.usage import Usage
        >>> table = PriceTable((ModelPrice("m", "openai", 1.0, None, 2.0),), "2026-11-24", "example")
        >>> paid = CallTrace("a", model_requested="m", outcome=Outcome("complete", usage=Usage(1_000_000, 0, 1_000_000)))
        >>> run = Run("r", [paid, CallTrace("b", model_requested="m", outcome=Outcome("complete"))])
        >>> run_cost_usd(run, table), run_unpriced(run, table)
        (1.0, 1)
    """
    known = [c for c in (_trace_cost(t, prices) for t in run.calls) if c is not None]
    return sum(known) if known else None


def run_unpriced(run: Run, prices: PriceTable) -> int:
    """A run's finished calls left out of `run_cost_usd`: no usage reported, or no price for the model."""
    return sum(1 for t in run.finished if _trace_cost(t, prices) is None)


def _trace_cost(trace: CallTrace, prices: PriceTable) -> float | None:
    price = prices.price_for(trace.model)
    if trace.usage is None or price is None:
        return None
    return call_cost(trace.usage, price).total_usd
