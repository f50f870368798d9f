"""Prices per 1M tokens and the cost of a call, from the usage LangChain reports.

Three facts shape the maths:

* Cached input tokens are a *subset* of the input tokens (OpenAI's ``cached_tokens``, LangChain's
  ``input_token_details["cache_read"]``): they are charged at the cached rate *instead of* the
  input rate, never on top of it.
* Reasoning tokens are a subset of the output tokens and are billed as output; the breakdown
  shows their share separately but the total counts them once.
* On OpenAI's ``priority`` and ``flex`` service tiers langchain-openai prefixes the detail keys
  with the tier (``priority_cache_read``, ``flex_reasoning``) and adds ``priority``/``flex`` keys
  for the remaining tokens; each tier has its own list prices.

A model missing from the table has *no price* (``None``), which pages show as "no price" — never
as $0, which would make an unknown cost look free.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.call.usage import Usage
from core.security.untrusted import csv_text

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DEFAULT_PRICES_PATH = DATA_DIR / "prices.csv"
TIERS = ("priority", "flex")
STANDARD = "standard"
PER = 1_000_000

# CSV column -> ModelPrice field. The shipped file uses the names of the shared price list.
_COLUMNS: dict[str, str] = {
    "model": "model",
    "provider": "provider",
    "input_per_1m_usd": "input_per_1m",
    "cached_input_per_1m_usd": "cached_input_per_1m",
    "output_per_1m_usd": "output_per_1m",
    "priority_input_per_1m_usd": "priority_input_per_1m",
    "priority_cached_input_per_1m_usd": "priority_cached_input_per_1m",
    "priority_output_per_1m_usd": "priority_output_per_1m",
    "flex_input_per_1m_usd": "flex_input_per_1m",
    "flex_cached_input_per_1m_usd": "flex_cached_input_per_1m",
    "flex_output_per_1m_usd": "flex_output_per_1m",
}
PRICE_COLUMNS: tuple[str, ...] = tuple(_COLUMNS)


@dataclass(frozen=True)
class TierRates:
    """The three prices (USD per 1M tokens) that apply on one service tier."""

    tier: str
    input_per_1m: float
    cached_input_per_1m: float | None
    output_per_1m: float


@dataclass(frozen=True)
class ModelPrice:
    """List prices of one model, in USD per 1M tokens.

    ``None`` means the price list has no such price (e.g. no cached-input discount, or the model
    is not offered on the flex tier).

    Example:
        >>> p = ModelPrice("gpt-4o-mini", "openai", 0.15, 0.075, 0.6)
        >>> p.rates("flex").tier  # no flex prices: the standard ones apply
        'standard'
    """

    model: str
    provider: str
    input_per_1m: float
    cached_input_per_1m: float | None
    output_per_1m: float
    priority_input_per_1m: float | None = None
    priority_cached_input_per_1m: float | None = None
    priority_output_per_1m: float | None = None
    flex_input_per_1m: float | None = None
    flex_cached_input_per_1m: float | None = None
    flex_output_per_1m: float | None = None

    @property
    def is_free(self) -> bool:
        """True for a $0 model (a local one), which is a price, unlike a missing row."""
        return self.input_per_1m == 0 and self.output_per_1m == 0

    def rates(self, tier: str | None = None) -> TierRates:
        """Prices for ``tier`` ("priority"/"flex"), or the standard ones when the tier has none."""
        if tier in TIERS:
            tier_input = getattr(self, f"{tier}_input_per_1m")
            tier_output = getattr(self, f"{tier}_output_per_1m")
            if tier_input is not None and tier_output is not None:
                return TierRates(
                    tier, tier_input, getattr(self, f"{tier}_cached_input_per_1m"), tier_output
                )
        return TierRates(STANDARD, self.input_per_1m, self.cached_input_per_1m, self.output_per_1m)

    def as_record(self) -> dict[str, Any]:
        """One row with the CSV column names (what the price editor shows)."""
        return {column: getattr(self, attr) for column, attr in _COLUMNS.items()}


# Suffixes that name a dated snapshot of a model priced like the model itself:
# "gpt-4o-mini-2024-07-18", "claude-x-20240620", "gpt-3.5-turbo-0125".
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


def normalise_model_name(model: str) -> str:
    """The name a price list would use for ``model``.

    Lower-cases, drops a routing prefix ("openai/gpt-4o") and a dated snapshot suffix.

    Example:
        >>> normalise_model_name("openai/GPT-4o-mini-2024-07-18")
        'gpt-4o-mini'
        >>> normalise_model_name("deepseek-v3.2")
        'deepseek-v3.2'
    """
    name = model.strip().casefold()
    name = name.rsplit("/", 1)[-1]
    return _SNAPSHOT.sub("", name)


@dataclass(frozen=True)
class PriceTable:
    """A dated price list: rows plus where they came from.

    Example:
        >>> table = PriceTable((ModelPrice("gpt-4o-mini", "openai", 0.15, 0.075, 0.6),),
        ...                    as_of="2026-11-24", source="example")
        >>> table.price_for("gpt-4o-mini-2024-07-18").model
        'gpt-4o-mini'
        >>> table.price_for("my-own-model") is None
        True
    """

    rows: tuple[ModelPrice, ...]
    as_of: str
    source: str

    def price_for(self, model: str | None) -> ModelPrice | None:
        """The row for ``model``: exact name first, then a normalised match; None = no price."""
        if not model:
            return None
        for row in self.rows:
            if row.model == model:
                return row
        wanted = normalise_model_name(model)
        for candidate in (model.strip().casefold(), wanted):
            for row in self.rows:
                if row.model.casefold() == candidate:
                    return row
        for row in self.rows:
            if normalise_model_name(row.model) == wanted:
                return row
        return None

    def price_with_note(self, model: str) -> tuple[ModelPrice | None, str]:
        """The row for `model` and one sentence saying which price applies (or that none does),
        with the table's date: a job stores the sentence, so its cost says what it was priced at.

        Example:
            >>> table = PriceTable((ModelPrice("gpt-4o-mini", "openai", 0.15, 0.075, 0.6),),
            ...                    as_of="2026-11-24", source="example")
            >>> table.price_with_note("gpt-4o-mini")[1]
            'gpt-4o-mini: $0.15 in / $0.6 out per 1M tokens (price table as of 2026-11-24).'
            >>> table.price_with_note("my-own-model")
            (None, 'No price for my-own-model in the price table (as of 2026-11-24).')
        """
        price = self.price_for(model)
        if price is None:
            return None, f"No price for {model} in the price table (as of {self.as_of})."
        return price, (
            f"{price.model}: ${price.input_per_1m:g} in / ${price.output_per_1m:g} out per 1M tokens "
            f"(price table as of {self.as_of})."
        )

    def models(self) -> list[str]:
        return [row.model for row in self.rows]

    def as_records(self) -> list[dict[str, Any]]:
        """Rows as dicts with the CSV column names, in table order."""
        return [row.as_record() for row in self.rows]

    def with_rows(self, rows: Iterable[ModelPrice], *, source: str | None = None) -> PriceTable:
        """The same as-of date with other rows (an edited copy)."""
        return PriceTable(tuple(rows), self.as_of, self.source if source is None else source)

    def to_csv(self) -> str:
        """The table as CSV text in the shipped file's format (blank = no such price)."""
        return csv_text(
            list(PRICE_COLUMNS),
            ({k: None if v is None else _fmt_number(v) for k, v in record.items()} for record in self.as_records()),
            line_end="\n",
        )


def _fmt_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _price(value: Any) -> float | None:
    """A price cell: blank/NaN → None; a number >= 0 → float; anything else → ValueError."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip().lstrip("$")
        if not value:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a number") from None
    if math.isnan(number):
        return None
    if number < 0 or math.isinf(number):
        raise ValueError(f"{number} is not a valid price")
    return number


def prices_from_records(records: Iterable[Mapping[str, Any]]) -> tuple[tuple[ModelPrice, ...], list[str]]:
    """Parse rows (CSV or edited-table dicts) into prices, with a plain problem per bad row.

    Rows without a model name are skipped silently (an empty row added in the editor); rows with
    a missing input or output price, a negative or non-numeric price are reported and left out,
    so that model shows "no price" rather than a wrong one. A repeated model keeps its first row.

    Example:
        >>> rows, problems = prices_from_records([
        ...     {"model": "m", "provider": "x", "input_per_1m_usd": "1", "output_per_1m_usd": "2"},
        ...     {"model": "n", "provider": "x", "input_per_1m_usd": "-1", "output_per_1m_usd": "2"},
        ... ])
        >>> [r.model for r in rows], problems
        (['m'], ['n: input_per_1m_usd: -1.0 is not a valid price'])
    """
    rows: list[ModelPrice] = []
    problems: list[str] = []
    seen: set[str] = set()
    for record in records:
        model = str(record.get("model") or "").strip()
        if not model or model.lower() == "nan":
            continue
        if model in seen:
            problems.append(f"{model}: listed twice, the first row is used")
            continue
        values: dict[str, Any] = {
            "model": model,
            "provider": str(record.get("provider") or "").strip() or "unknown",
        }
        bad = False
        for column, attr in _COLUMNS.items():
            if attr in ("model", "provider"):
                continue
            try:
                values[attr] = _price(record.get(column))
            except ValueError as exc:
                problems.append(f"{model}: {column}: {exc}")
                bad = True
                break
        if bad:
            continue
        if values["input_per_1m"] is None or values["output_per_1m"] is None:
            problems.append(f"{model}: needs both an input and an output price")
            continue
        seen.add(model)
        rows.append(ModelPrice(**values))
    return tuple(rows), problems


def load_price_table(path: Path | None = None) -> PriceTable:
    """Read a price CSV and its ``<name>.meta.json`` (as-of date and source).

    Args:
        path: a CSV with the columns of `PRICE_COLUMNS`; default: the file shipped in data/.

    Raises:
        ValueError: the file has a malformed row (the shipped file never does).

    Example:
        >>> table = load_price_table()
        >>> table.as_of, table.price_for("SmolLM2-135M-Instruct").is_free
        ('2026-11-24', True)
    """
    path = path or DEFAULT_PRICES_PATH
    with path.open(newline="", encoding="utf-8") as handle:
        rows, problems = prices_from_records(csv.DictReader(handle))
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(problems))
    meta_path = path.with_suffix(".meta.json")
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return PriceTable(
        rows=rows,
        as_of=str(meta.get("as_of") or "unknown date"),
        source=str(meta.get("source") or path.name),
    )


@dataclass(frozen=True)
class CostBreakdown:
    """What one call cost, in USD, part by part.

    Attributes:
        input_usd: input tokens that were not cached, at the input price.
        cached_input_usd: cached input tokens, at the cached-input price.
        output_usd: all output tokens (reasoning included), at the output price.
        reasoning_usd: the reasoning tokens' share of ``output_usd`` (not added again).
        total_usd: input + cached input + output.
        tier: the tier whose prices were used ("standard", "priority" or "flex").
        requested_tier: the tier the call ran on, when its prices were missing and the
            standard ones were used instead; else None.
    """

    input_usd: float
    cached_input_usd: float
    output_usd: float
    reasoning_usd: float
    total_usd: float
    tier: str = STANDARD
    requested_tier: str | None = None


def usage_tier(usage: Usage) -> str | None:
    """The service tier langchain-openai encoded in the detail keys, if any.

    Example:
        >>> usage_tier(Usage(10, 5, 15, {"priority": 10}, {"priority": 5}))
        'priority'
        >>> usage_tier(Usage(10, 5, 15)) is None
        True
    """
    keys = set(usage.input_details) | set(usage.output_details)
    for tier in TIERS:
        if tier in keys or any(k.startswith(f"{tier}_") for k in keys):
            return tier
    return None


def _detail(details: Mapping[str, int], name: str, tier: str | None) -> int:
    # On a tier langchain-openai writes "<tier>_<name>"; other providers write the plain key.
    if tier and f"{tier}_{name}" in details:
        return int(details[f"{tier}_{name}"] or 0)
    return int(details.get(name, 0) or 0)


def cached_input_tokens(usage: Usage, tier: str | None = None) -> int:
    """Cached input tokens, whichever way the tier named them (never more than the input).

    Example:
        >>> cached_input_tokens(Usage(100, 5, 105, {"flex_cache_read": 60, "flex": 40}))
        60
    """
    tier = tier if tier in TIERS else usage_tier(usage)
    return min(_detail(usage.input_details, "cache_read", tier), usage.input_tokens)


def reasoning_tokens(usage: Usage, tier: str | None = None) -> int:
    """Reasoning tokens, whichever way the tier named them (never more than the output)."""
    tier = tier if tier in TIERS else usage_tier(usage)
    return min(_detail(usage.output_details, "reasoning", tier), usage.output_tokens)


def call_cost(usage: Usage, price: ModelPrice, *, service_tier: str | None = None) -> CostBreakdown:
    """The cost of one call from its reported usage.

    Args:
        usage: the call's token counts.
        price: the model's list prices.
        service_tier: the tier from ``response_metadata["service_tier"]``; when None it is read
            from the usage detail keys. "default"/"auto" mean the standard prices.

    Cached input tokens are part of ``usage.input_tokens``: only the rest is charged at the input
    price. Without a cached-input price, cached tokens cost the full input price. Cache writes
    (``cache_creation``) cost the normal input price on OpenAI, so they need no special case.

    Example (gpt-4o-mini: $0.15 in, $0.075 cached, $0.60 out per 1M):
        >>> p = ModelPrice("gpt-4o-mini", "openai", 0.15, 0.075, 0.6)
        >>> u = Usage(2_000, 1_000, 3_000, {"cache_read": 1_000}, {"reasoning": 400})
        >>> c = call_cost(u, p)
        >>> round(c.input_usd, 6), round(c.cached_input_usd, 6), round(c.output_usd, 6)
        (0.00015, 7.5e-05, 0.0006)
        >>> round(c.total_usd, 6), round(c.reasoning_usd, 6)
        (0.000825, 0.00024)
    """
    requested = service_tier if service_tier in TIERS else None
    if service_tier is None:
        requested = usage_tier(usage)
    rates = price.rates(requested)
    cached = cached_input_tokens(usage, requested)
    reasoning = reasoning_tokens(usage, requested)
    uncached = max(usage.input_tokens - cached, 0)
    cached_rate = rates.cached_input_per_1m
    if cached_rate is None:
        cached_rate = rates.input_per_1m
    input_usd = uncached * rates.input_per_1m / PER
    cached_input_usd = cached * cached_rate / PER
    output_usd = usage.output_tokens * rates.output_per_1m / PER
    return CostBreakdown(
        input_usd=input_usd,
        cached_input_usd=cached_input_usd,
        output_usd=output_usd,
        reasoning_usd=reasoning * rates.output_per_1m / PER,
        total_usd=input_usd + cached_input_usd + output_usd,
        tier=rates.tier,
        requested_tier=requested if requested and rates.tier != requested else None,
    )


def cost_function(price: ModelPrice | None) -> Callable[[Usage | None], float | None]:
    """The cost of one call from its usage, for a runner that prices every row: None without a
    price or without usage (never $0 by default).

    Example:
        >>> cost_of = cost_function(ModelPrice("m", "openai", 1.0, None, 2.0))
        >>> cost_of(Usage(1_000_000, 500_000, 1_500_000)), cost_of(None), cost_function(None)(Usage(1, 1, 2))
        (2.0, None, None)
    """

    def cost_of(usage: Usage | None) -> float | None:
        if usage is None or price is None:
            return None
        return call_cost(usage, price).total_usd

    return cost_of


def estimate_cost(input_tokens: int, output_tokens: int, price: ModelPrice) -> float:
    """A quick standard-tier estimate, without caching (e.g. before running a batch).

    Example:
        >>> estimate_cost(1_000_000, 500_000, ModelPrice("gpt-4o-mini", "openai", 0.15, 0.075, 0.6))
        0.45
    """
    return (input_tokens * price.input_per_1m + output_tokens * price.output_per_1m) / PER


def per_1k_to_per_1m(price_per_1k: float) -> float:
    """Convert a per-1K-tokens price (older docs, the concept note) to per-1M.

    Example:
        >>> per_1k_to_per_1m(0.002)
        2.0
    """
    return price_per_1k * 1000


def format_usd(amount: float | None) -> str:
    """Dollars with enough decimals for tiny per-call costs; None → "no price".

    Example:
        >>> format_usd(0.000182), format_usd(12.5), format_usd(0.0), format_usd(None)
        ('$0.000182', '$12.50', '$0.00', 'no price')
        >>> format_usd(0.0000000123)
        '$0.0000000123'

    """
    if amount is None:
        return "no price"
    if amount == 0:
        return "$0.00"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    if abs(amount) >= 0.01:
        return f"${amount:.4f}"
    # Tiny per-call costs: keep three significant digits, at least six decimals.
    decimals = max(6, 2 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{decimals}f}"


__all__ = [
    "PRICE_COLUMNS",
    "CostBreakdown",
    "ModelPrice",
    "PriceTable",
    "TierRates",
    "cached_input_tokens",
    "call_cost",
    "estimate_cost",
    "format_usd",
    "load_price_table",
    "normalise_model_name",
    "per_1k_to_per_1m",
    "prices_from_records",
    "reasoning_tokens",
    "usage_tier",
]
