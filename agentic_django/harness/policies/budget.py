"""BudgetPolicy: cost ceilings in USD, checked before every LLM call."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, NonNegativeFloat, PositiveInt

from agentic_django.core.exceptions import BudgetExceeded
from agentic_django.harness.policies.base import Policy

#: Rough characters per token used when only the prompt text is known.
CHARS_PER_TOKEN = 4


class BudgetScope(StrEnum):
    """The spending scopes a budget can cap."""

    REQUEST = "request"
    SESSION = "session"
    USER_PER_DAY = "user_per_day"
    ENDPOINT_PER_DAY = "endpoint_per_day"


class TokenPrice(BaseModel):
    """Price of a model in USD per million input and output tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_usd_per_million: NonNegativeFloat
    output_usd_per_million: NonNegativeFloat


def estimate_cost(prompt: str | int, max_tokens: int, price: TokenPrice) -> float:
    """Upper-bound cost of one call: the prompt's tokens plus ``max_tokens`` output.

    ``prompt`` is either a token count or the prompt text (estimated at
    ``CHARS_PER_TOKEN`` characters per token, rounded up).
    """
    tokens = -(-len(prompt) // CHARS_PER_TOKEN) if isinstance(prompt, str) else max(prompt, 0)
    return (
        tokens * price.input_usd_per_million + max(max_tokens, 0) * price.output_usd_per_million
    ) / 1_000_000


class BudgetPolicy(Policy):
    """Caps LLM spending per request, session, user per day and endpoint per day.

    The policy does not count spending itself: the caller sums what was spent in
    each scope (from the database, so the caps hold across processes) and calls
    :meth:`check` with the estimate of the next call before making it.
    """

    max_per_request_usd: NonNegativeFloat | None = None
    max_per_session_usd: NonNegativeFloat | None = None
    max_per_user_per_day_usd: NonNegativeFloat | None = None
    max_per_endpoint_per_day_usd: NonNegativeFloat | None = None
    default_max_tokens: PositiveInt = 4096

    def limits(self) -> dict[BudgetScope, float]:
        """The configured caps, by scope (unset scopes are absent)."""
        configured = {
            BudgetScope.REQUEST: self.max_per_request_usd,
            BudgetScope.SESSION: self.max_per_session_usd,
            BudgetScope.USER_PER_DAY: self.max_per_user_per_day_usd,
            BudgetScope.ENDPOINT_PER_DAY: self.max_per_endpoint_per_day_usd,
        }
        return {scope: limit for scope, limit in configured.items() if limit is not None}

    def check(self, estimate_usd: float, spent: Mapping[str, float]) -> None:
        """Raise :class:`BudgetExceeded` if spending ``estimate_usd`` more breaks a cap.

        ``spent`` maps a scope (``BudgetScope`` value) to what was already spent in
        it; a missing scope counts as zero. The first scope (in ``BudgetScope``
        order) that would be exceeded is named in the error.
        """
        for scope, limit in self.limits().items():
            observed = float(spent.get(scope.value, 0.0)) + max(estimate_usd, 0.0)
            if observed > limit:
                raise BudgetExceeded(
                    f"LLM budget for {scope.value} exceeded: "
                    f"${observed:.6f} would pass the ${limit:.6f} limit",
                    scope=scope.value,
                    limit_usd=limit,
                    observed_usd=observed,
                )

    def remaining(self, spent: Mapping[str, float]) -> dict[BudgetScope, float]:
        """What is left in each capped scope (never negative)."""
        return {
            scope: max(limit - float(spent.get(scope.value, 0.0)), 0.0)
            for scope, limit in self.limits().items()
        }
