"""Cloud model prices (`cloud_prices.json`) and the cost of one cloud request (issue 13, costs).

Prices are USD per 1M tokens, kept as `Decimal` so that sums over months of history stay exact.
Each entry carries the date and the page its price was read from, because providers change prices
and a stored cost must be explainable later. A model with no price is *unpriced*: `cost` answers
`None`, never 0, so that a missing price cannot pass for a free request (LiteLLM #35914).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

PROVIDERS = ("openai", "anthropic", "google")
PRICE_FIELDS = ("input", "cached_input", "cache_write", "output")
FIELDS = ("provider", "model", *PRICE_FIELDS, "as_of", "source")
OPTIONAL_PRICE_FIELDS = ("cached_input", "cache_write")

PER_TOKENS = Decimal(1_000_000)
USD_QUANTUM = Decimal("0.0000000001")  # 10 decimal places

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A dated snapshot id: `gpt-4o-2024-08-06` or `claude-sonnet-4-5-20250929`.
_SNAPSHOT = re.compile(r"^(?P<base>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True)
class Price:
    """One model's prices in USD per 1M tokens; `None` where the provider has no such price."""

    provider: str
    model: str
    input: Decimal
    cached_input: Decimal | None
    cache_write: Decimal | None
    output: Decimal
    as_of: date
    source: str


PriceTable = dict[tuple[str, str], Price]

SHIPPED_PRICES = Path(__file__).with_name("cloud_prices.json")


class PriceBook:
    """This process's prices (`app.extensions["prices"]`): the shipped table, with the admin's overrides
    (settings page) over it. The history writer reads `table()` for each cloud request it costs.

    An override list is validated whole before anything changes, and the new table replaces the old one
    in a single assignment: a request being costed meanwhile sees the old table or the new, never a mix.
    The shipped table itself is never changed, so removing an override brings the shipped price back.
    """

    def __init__(self, shipped: PriceTable) -> None:
        self._shipped = shipped
        self._table = shipped
        self._overrides: list[dict] = []

    @classmethod
    def shipped(cls, path: Path = SHIPPED_PRICES) -> PriceBook:
        """The book of the shipped price file; a broken file raises `ValueError` (start-up stops)."""
        return cls(load_prices(path))

    def table(self) -> PriceTable:
        return self._table

    @property
    def overrides(self) -> list[dict]:
        """The overrides in use (a copy), for a caller that applies a change only when there is one."""
        return [dict(entry) for entry in self._overrides]

    def use_overrides(self, overrides: list[dict]) -> None:
        """Price with `overrides` from now on (an empty list: the shipped prices only). A bad entry raises
        `ValueError` naming its index and field, and the prices in use stay as they were."""
        table = with_overrides(self._shipped, overrides)
        self._overrides = [dict(entry) for entry in overrides]
        self._table = table


def load_prices(path: Path) -> PriceTable:
    """Read and validate a price file `{"prices": [...]}`; a bad entry raises `ValueError` naming
    its index and field, so a broken table stops start-up instead of mis-costing requests."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("prices"), list):
        raise ValueError(f'{path}: expected an object with a "prices" list')
    return _table(document["prices"], what="price entry")


def with_overrides(prices: PriceTable, overrides: list[dict]) -> PriceTable:
    """The table with `overrides` (from the settings page) replacing or adding entries.

    Overrides get the same validation as the shipped file; `prices` itself is left unchanged.
    """
    if not isinstance(overrides, list):
        raise ValueError("price overrides: expected a list of entries")
    merged = dict(prices)
    merged.update(_table(overrides, what="price override"))
    return merged


def price_for(prices: PriceTable, provider: str, model: str) -> Price | None:
    """The price of `model`: its exact id first; a dated snapshot (`-YYYY-MM-DD` or `-YYYYMMDD`)
    absent from the table falls back to its base id. Nothing fuzzier: `gpt-4o-mini` never takes
    the price of `gpt-4o`."""
    exact = prices.get((provider, model))
    if exact is not None:
        return exact
    match = _SNAPSHOT.match(model)
    if match is None:
        return None
    return prices.get((provider, match.group("base")))


def cost(price: Price | None, usage: dict | None) -> Decimal | None:
    """USD cost of one request from an OpenAI-shape `usage`, or `None` when it cannot be priced.

    `prompt_tokens` includes cached tokens (`prompt_tokens_details.cached_tokens`) and, for
    Anthropic, cache-creation tokens (`prompt_tokens_details.cache_creation_tokens`); each token is
    charged once, at its own rate: uncached at `input`, cached at `cached_input`, cache creation at
    `cache_write` (each falling back to `input` where the provider has no such price), completion
    at `output`. Usage that does not add up answers `None` rather than a wrong number.
    """
    if price is None or not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens", 0))
    details = usage.get("prompt_tokens_details") or {}
    if not isinstance(details, dict):
        return None
    cached = _count(details.get("cached_tokens") or 0)
    created = _count(details.get("cache_creation_tokens") or 0)
    if None in (prompt, completion, cached, created):
        return None
    uncached = prompt - cached - created
    if uncached < 0:
        return None
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    write_rate = price.cache_write if price.cache_write is not None else price.input
    total = (
        uncached * price.input
        + cached * cached_rate
        + created * write_rate
        + completion * price.output
    ) / PER_TOKENS
    return total.quantize(USD_QUANTUM, rounding=ROUND_HALF_UP)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _table(entries: list, *, what: str) -> PriceTable:
    table: PriceTable = {}
    for index, entry in enumerate(entries):
        price = _price(entry, index, what)
        key = (price.provider, price.model)
        if key in table:
            raise ValueError(
                f"{what} {index}: field 'model': duplicate {price.provider}:{price.model}"
            )
        table[key] = price
    return table


def _price(entry: Any, index: int, what: str) -> Price:
    def fail(field: str, why: str) -> ValueError:
        return ValueError(f"{what} {index}: field '{field}': {why}")

    if not isinstance(entry, dict):
        raise ValueError(f"{what} {index}: expected an object")
    for field in entry:
        if field not in FIELDS:
            raise fail(field, "unknown field")
    for field in FIELDS:
        if field not in entry:
            raise fail(field, "missing")

    provider = entry["provider"]
    if provider not in PROVIDERS:
        raise fail("provider", f"must be one of {', '.join(PROVIDERS)}")
    model = entry["model"]
    if not isinstance(model, str) or not model or model != model.strip() or " " in model:
        raise fail("model", "must be a non-empty model id without spaces")

    amounts: dict[str, Decimal | None] = {}
    for field in PRICE_FIELDS:
        value = entry[field]
        if value is None and field in OPTIONAL_PRICE_FIELDS:
            amounts[field] = None
            continue
        amounts[field] = _amount(value, lambda why, field=field: fail(field, why))
    if amounts["cache_write"] is not None and provider != "anthropic":
        raise fail("cache_write", "only Anthropic prices cache creation; use null")

    as_of = entry["as_of"]
    if not isinstance(as_of, str) or not _DATE.fullmatch(as_of):
        raise fail("as_of", "must be a date YYYY-MM-DD")
    try:
        as_of_date = date.fromisoformat(as_of)
    except ValueError as exc:
        raise fail("as_of", f"not a real date ({exc})") from exc

    source = entry["source"]
    if not isinstance(source, str) or not re.fullmatch(r"https?://\S+", source):
        raise fail("source", "must be the URL of the pricing page")

    return Price(
        provider=provider,
        model=model,
        input=amounts["input"],
        cached_input=amounts["cached_input"],
        cache_write=amounts["cache_write"],
        output=amounts["output"],
        as_of=as_of_date,
        source=source,
    )


def _amount(value: Any, fail) -> Decimal:
    """A price as a Decimal: a number or a decimal string, finite and not negative."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise fail("must be a number or a decimal string")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, int) else Decimal(value)
    except InvalidOperation as exc:
        raise fail(f"not a number: {value!r}") from exc
    if not amount.is_finite():
        raise fail("must be a finite number")
    if amount < 0:
        raise fail("must not be negative")
    return amount
