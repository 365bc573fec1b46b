"""Handlers written with the ruff-style ``TYPE_CHECKING`` import pattern."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentic_django.core.dependencies import Depends
from agentic_django.core.intent import Intent

if TYPE_CHECKING:
    from decimal import Decimal  # only type checkers see this import


def current_rate() -> Decimal:
    from decimal import Decimal

    return Decimal("1.5")


async def handler(intent: Intent, rate: Decimal = Depends(current_rate)) -> dict[str, Decimal]:
    return {"rate": rate}


def needs_unknown(value: Decimal) -> int:
    return 1
