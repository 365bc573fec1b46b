"""What LLM calls cost: a price table per model in USD per million tokens.

The defaults are the providers' published list prices for standard (non-batch,
non-cached) usage at the time of writing; prices change, so projects override or
extend them through the ``PRICING`` setting. A model id matches its own entry or
the longest entry it extends with a ``-`` suffix (``gpt-4o-2024-08-06`` is priced
as ``gpt-4o``); an unknown model costs 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .base import LLMUsage


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million input and output tokens."""

    input: float
    output: float


PriceTable = Mapping[str, ModelPrice]

DEFAULT_PRICES: PriceTable = {
    # Anthropic
    "claude-opus-4-6": ModelPrice(5.0, 25.0),
    "claude-opus-4-5": ModelPrice(5.0, 25.0),
    "claude-opus-4-1": ModelPrice(15.0, 75.0),
    "claude-opus-4": ModelPrice(15.0, 75.0),
    "claude-sonnet-4-6": ModelPrice(3.0, 15.0),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0),
    "claude-sonnet-4": ModelPrice(3.0, 15.0),
    "claude-3-7-sonnet": ModelPrice(3.0, 15.0),
    "claude-haiku-4-5": ModelPrice(1.0, 5.0),
    "claude-3-5-haiku": ModelPrice(0.8, 4.0),
    "claude-3-haiku": ModelPrice(0.25, 1.25),
    # OpenAI
    "gpt-5": ModelPrice(1.25, 10.0),
    "gpt-5-mini": ModelPrice(0.25, 2.0),
    "gpt-5-nano": ModelPrice(0.05, 0.4),
    "gpt-4.1": ModelPrice(2.0, 8.0),
    "gpt-4.1-mini": ModelPrice(0.4, 1.6),
    "gpt-4.1-nano": ModelPrice(0.1, 0.4),
    "gpt-4o": ModelPrice(2.5, 10.0),
    "gpt-4o-mini": ModelPrice(0.15, 0.6),
    "o1": ModelPrice(15.0, 60.0),
    "o1-mini": ModelPrice(1.1, 4.4),
    "o3": ModelPrice(2.0, 8.0),
    "o3-mini": ModelPrice(1.1, 4.4),
    "o4-mini": ModelPrice(1.1, 4.4),
    # Google Gemini (prompts up to 200k tokens for the pro models)
    "gemini-2.5-pro": ModelPrice(1.25, 10.0),
    "gemini-2.5-flash": ModelPrice(0.3, 2.5),
    "gemini-2.5-flash-lite": ModelPrice(0.1, 0.4),
    "gemini-2.0-flash": ModelPrice(0.1, 0.4),
    "gemini-2.0-flash-lite": ModelPrice(0.075, 0.3),
    # In-process test backends
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


def price_for(model: str, table: PriceTable | None = None) -> ModelPrice | None:
    """The entry pricing ``model``: an exact match, else the longest ``entry-…`` prefix."""
    prices = DEFAULT_PRICES if table is None else table
    model = model.removeprefix("models/")
    if model in prices:
        return prices[model]
    candidates = [name for name in prices if model.startswith(name + "-")]
    return prices[max(candidates, key=len)] if candidates else None


def is_priced(model: str, table: PriceTable | None = None) -> bool:
    """Whether ``model`` has a price (an unpriced model is recorded at cost 0)."""
    return price_for(model, table) is not None


def cost_usd(model: str, usage: LLMUsage, table: PriceTable | None = None) -> float:
    """The cost of ``usage`` on ``model`` in USD; 0.0 for an unpriced model."""
    price = price_for(model, table)
    if price is None:
        return 0.0
    return (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000
