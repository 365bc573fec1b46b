"""Budgets on LLM spending, enforced before every call a request makes.

Before each call, its cost is estimated from the prompt and ``max_tokens`` and
checked against every :class:`~agentic_django.harness.BudgetPolicy` of the
endpoint. What was already spent comes from the database (``LLMCall`` rows, so
the caps hold across processes) plus the calls this request has made so far.
Calls of requests still in flight in other processes are not counted until
their trace is written: a cap can be overshot by at most those calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from ..harness import BudgetPolicy, BudgetScope, TokenPrice, estimate_cost
from ..llm import LLMBackend, LLMChunk, LLMPrompt, LLMResponse
from ..llm.base import backend_provider, prompt_text
from ..llm.pricing import price_for
from ..models import LLMCall
from .db import run_db
from .llm import CallRecorder, price_table

#: Assumed output when neither the prompt nor the policy sets ``max_tokens``.
FALLBACK_MAX_TOKENS = 4096


def start_of_day(now: datetime | None = None) -> datetime:
    """Midnight of the current day in the active time zone (``TIME_ZONE``)."""
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def spent_in_scopes(
    *, user_id: int | None, session_pk: int | None, endpoint_name: str
) -> dict[str, float]:
    """What was spent per scope, from stored LLM calls, in one query."""
    day = start_of_day()
    user_q = Q(user_id=user_id, created_at__gte=day) if user_id is not None else Q(pk__in=[])
    session_q = Q(trace__session_id=session_pk) if session_pk is not None else Q(pk__in=[])
    endpoint_q = Q(endpoint_name=endpoint_name, created_at__gte=day)
    totals = LLMCall.objects.filter(user_q | session_q | endpoint_q).aggregate(
        user=Sum("cost_usd", filter=user_q),
        session=Sum("cost_usd", filter=session_q),
        endpoint=Sum("cost_usd", filter=endpoint_q),
    )
    return {
        BudgetScope.USER_PER_DAY.value: float(totals["user"] or 0),
        BudgetScope.SESSION.value: float(totals["session"] or 0),
        BudgetScope.ENDPOINT_PER_DAY.value: float(totals["endpoint"] or 0),
    }


class BudgetGuard:
    """Checks each LLM call of one request against the endpoint's budget policies."""

    def __init__(
        self,
        policies: list[BudgetPolicy],
        recorder: CallRecorder,
        *,
        user_id: int | None,
        session_pk: int | None,
        endpoint_name: str,
    ) -> None:
        self.policies = policies
        self.recorder = recorder
        self.user_id = user_id
        self.session_pk = session_pk
        self.endpoint_name = endpoint_name
        self._stored: dict[str, float] | None = None
        self._prices = price_table()

    @property
    def active(self) -> bool:
        return bool(self.policies)

    async def spent(self) -> dict[str, float]:
        """Spending per scope: stored calls (read once per request) plus this request's."""
        if self._stored is None:
            if any(self._needs_database(policy) for policy in self.policies):
                self._stored = await run_db(
                    spent_in_scopes,
                    user_id=self.user_id,
                    session_pk=self.session_pk,
                    endpoint_name=self.endpoint_name,
                )
            else:
                self._stored = {}
        current = float(self.recorder.cost_usd)
        spent = {scope: value + current for scope, value in self._stored.items()}
        spent[BudgetScope.REQUEST.value] = current
        return spent

    async def check(self, prompt: LLMPrompt, model: str) -> None:
        """Raise :class:`BudgetExceeded` if this call could break a cap."""
        if not self.policies:
            return
        spent = await self.spent()
        text = prompt_text(prompt)
        price = price_for(model, self._prices)
        token_price = TokenPrice(
            input_usd_per_million=price.input if price else 0.0,
            output_usd_per_million=price.output if price else 0.0,
        )
        for policy in self.policies:
            max_tokens = prompt.max_tokens or policy.default_max_tokens or FALLBACK_MAX_TOKENS
            policy.check(estimate_cost(text, max_tokens, token_price), spent)

    @staticmethod
    def _needs_database(policy: BudgetPolicy) -> bool:
        return any(scope is not BudgetScope.REQUEST for scope in policy.limits())


class BudgetedBackend:
    """A backend whose every call is checked by a :class:`BudgetGuard` first.

    It only guards; recording stays with the observers and recording wrappers,
    so a refused call is never sent and never recorded as spending.
    """

    def __init__(self, backend: LLMBackend, guard: BudgetGuard) -> None:
        self._backend = backend
        self._guard = guard
        self.provider = backend_provider(backend)
        self.model_name = backend.model_name

    async def generate(self, prompt: LLMPrompt) -> LLMResponse:
        await self._guard.check(prompt, self.model_name)
        return await self._backend.generate(prompt)

    async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
        await self._guard.check(prompt, self.model_name)
        async for chunk in self._backend.generate_stream(prompt):
            yield chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)
