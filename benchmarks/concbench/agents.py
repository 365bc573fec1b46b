"""The benchmark's agent endpoints (found by ``autodiscover_modules("agents")``).

* ``slow``: the measured endpoint. Its intent is parsed by the slow model (one
  recorded ``LLMCall``); the handler does no work of its own, so what remains is
  the framework: session, policies, parsing, trace and turn.
* ``budgeted``: the same, with a per-session budget, for the cross-process check
  that a cap holds the same whichever process serves each turn.
"""

from __future__ import annotations

from typing import Any

from agentic_django import AgentContext, Intent, agents
from agentic_django.harness import BudgetPolicy

#: Per-session cap of ``budgeted``: a handful of the slow model's priced calls.
SESSION_BUDGET_USD = 0.003


@agents.agent_endpoint("slow", description="A trivial handler behind a slow intent parser")
async def slow(intent: Intent, context: AgentContext) -> dict[str, Any]:
    """No work of its own, so the load measures the framework and the model's wait."""
    return {"ok": True, "action": intent.action.value, "domain": intent.domain}


@agents.agent_endpoint(
    "budgeted",
    description="As slow, under a per-session budget",
    policies=[BudgetPolicy(max_per_session_usd=SESSION_BUDGET_USD)],
)
async def budgeted(intent: Intent, context: AgentContext) -> dict[str, Any]:
    """Answers until the session's recorded LLM spending reaches the cap (then 402)."""
    return {"ok": True}
