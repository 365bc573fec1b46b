"""Harness policies: pydantic models that allow or deny code, intents and tool calls."""

from __future__ import annotations

from agentic_django.harness.policies.autonomy import (
    AutonomyLevel,
    AutonomyPolicy,
    AutonomySignal,
    EscalationRule,
)
from agentic_django.harness.policies.base import Policy, PolicyResult
from agentic_django.harness.policies.budget import (
    BudgetPolicy,
    BudgetScope,
    TokenPrice,
    estimate_cost,
)
from agentic_django.harness.policies.code import CodePolicy
from agentic_django.harness.policies.data import DataPolicy
from agentic_django.harness.policies.evaluator import PolicyEvaluation, PolicyEvaluator
from agentic_django.harness.policies.pii import PIIMatch, PIIPolicy
from agentic_django.harness.policies.prompt_injection import PromptInjectionPolicy
from agentic_django.harness.policies.resource import ResourcePolicy
from agentic_django.harness.policies.runtime import RuntimePolicy

__all__ = [
    "AutonomyLevel",
    "AutonomyPolicy",
    "AutonomySignal",
    "BudgetPolicy",
    "BudgetScope",
    "CodePolicy",
    "DataPolicy",
    "EscalationRule",
    "PIIMatch",
    "PIIPolicy",
    "Policy",
    "PolicyEvaluation",
    "PolicyEvaluator",
    "PolicyResult",
    "PromptInjectionPolicy",
    "ResourcePolicy",
    "RuntimePolicy",
    "TokenPrice",
    "estimate_cost",
]
