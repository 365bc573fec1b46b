"""What LLM calls cost, in USD per million tokens, and which table said so.

Prices come from the maintained table of `genai-prices` (Pydantic's, updated with each
release: tiers for long prompts included), with the project's ``PRICING`` setting on
top for models it lacks or prices the project negotiated. A ``PRICING`` entry matches
its own model id or the longest entry it extends with a ``-`` suffix
(``gpt-4o-2024-08-06`` is priced as ``gpt-4o``); a model neither knows costs 0.
Each recorded call names its source (:data:`SOURCE_SETTING`, :data:`SOURCE_GENAI_PRICES`,
:data:`SOURCE_BUILT_IN` for the in-process mock, or ``""`` when unpriced).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from genai_prices import Usage as _Usage
from genai_prices import calc_price as _calc_price

from .base import LLMUsage

SOURCE_SETTING = "setting"
SOURCE_GENAI_PRICES = "genai-prices"
SOURCE_BUILT_IN = "built-in"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million input and output tokens."""

    input: float
    output: float


PriceTable = Mapping[str, ModelPrice]

#: Prices of our own in-process backends; every provider's come from genai-prices.
DEFAULT_PRICES: PriceTable = {
    "mock": ModelPrice(0.0, 0.0),
}


def build_price_table(
    overrides: Mapping[str, ModelPrice | Mapping[str, float]] | None = None,
    *,
    base: PriceTable = DEFAULT_PRICES,
) -> dict[str, ModelPrice]:
    """``base`` with ``overrides`` applied; settings give ``{"input": x, "output": y}``."""
    table = dict(base)
    for model, price in (overrides or {}).items():
        if isinstance(price, ModelPrice):
            table[model] = price
        else:
            try:
                table[model] = ModelPrice(float(price["input"]), float(price["output"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"Price for {model!r} must be {{'input': <USD/M tokens>, "
                    f"'output': <USD/M tokens>}}, got {price!r}"
                ) from exc
    return table


def _table_entry(model: str, prices: PriceTable) -> str | None:
    if model in prices:
        return model
    candidates = [name for name in prices if model.startswith(name + "-")]
    return max(candidates, key=len) if candidates else None


def _genai_calculation(model: str, usage: LLMUsage, provider: str | None = None) -> Any:
    try:
        return _calc_price(
            _Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
            model_ref=model,
            provider_id=provider or None,
        )
    except LookupError:
        return None


@lru_cache(maxsize=512)
def _genai_base_price(model: str) -> ModelPrice | None:
    """The model's price below any long-prompt tier, per million tokens."""
    thousand = _genai_calculation(model, LLMUsage(1000, 0))
    if thousand is None:
        return None
    output = _genai_calculation(model, LLMUsage(0, 1000))
    return ModelPrice(
        float(Decimal(thousand.total_price) * 1000), float(Decimal(output.total_price) * 1000)
    )


def price_for(model: str, table: PriceTable | None = None) -> ModelPrice | None:
    """The price of ``model``: its ``PRICING``/built-in entry, else genai-prices' base price."""
    prices = DEFAULT_PRICES if table is None else table
    model = model.removeprefix("models/")
    entry = _table_entry(model, prices)
    if entry is not None:
        return prices[entry]
    return _genai_base_price(model)


def is_priced(model: str, table: PriceTable | None = None) -> bool:
    """Whether ``model`` has a price (an unpriced model is recorded at cost 0)."""
    return price_for(model, table) is not None


def price_call(
    model: str, usage: LLMUsage, table: PriceTable | None = None, *, provider: str = ""
) -> tuple[float, str]:
    """The cost of ``usage`` on ``model`` in USD and the source that priced it.

    genai-prices computes the cost itself, so tiered prices (long prompts) apply.
    """
    prices = DEFAULT_PRICES if table is None else table
    model = model.removeprefix("models/")
    entry = _table_entry(model, prices)
    if entry is not None:
        price = prices[entry]
        source = SOURCE_BUILT_IN if price is DEFAULT_PRICES.get(entry) else SOURCE_SETTING
        cost = (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1e6
        return cost, source
    calculation = _genai_calculation(model, usage, provider)
    if calculation is None and provider:
        calculation = _genai_calculation(model, usage)  # our provider name may differ
    if calculation is None:
        return 0.0, ""
    return float(calculation.total_price), SOURCE_GENAI_PRICES


def cost_usd(model: str, usage: LLMUsage, table: PriceTable | None = None) -> float:
    """The cost of ``usage`` on ``model`` in USD; 0.0 for an unpriced model."""
    return price_call(model, usage, table)[0]
