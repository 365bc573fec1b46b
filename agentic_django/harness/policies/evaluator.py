"""Runs a set of policies and keeps every result, including those of a denial."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentic_django.core.exceptions import PolicyViolation
from agentic_django.harness.policies.base import Policy, PolicyResult


class PolicyEvaluation(BaseModel):
    """The results of every policy for one check, in policy order."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    results: list[PolicyResult] = Field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """True when no policy denied."""
        return all(result.allowed for result in self.results)

    @property
    def denied(self) -> list[PolicyResult]:
        """The results of the policies that denied."""
        return [result for result in self.results if not result.allowed]

    @property
    def warnings(self) -> list[str]:
        """Every warning, prefixed with the policy that raised it."""
        return [f"{r.policy_name}: {w}" for r in self.results for w in r.warnings]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the execution trace."""
        return self.model_dump(mode="json")

    def raise_if_denied(self) -> None:
        """Raise :class:`PolicyViolation` naming every denying policy, if any denied."""
        denied = self.denied
        if not denied:
            return
        names = [result.policy_name for result in denied]
        violations = [f"{r.policy_name}: {v}" for r in denied for v in r.violations]
        raise PolicyViolation(
            f"Denied by {', '.join(names)}: {'; '.join(violations)}",
            policy=", ".join(names),
            violations=violations,
            policies=names,
            evaluation=self.to_json(),
        )


class PolicyEvaluator:
    """Evaluates every policy and reports every result.

    All policies run even after one denies, so the trace shows everything that
    was found. A policy that raises is treated as a denial (fail closed).
    """

    def __init__(self, policies: Iterable[Policy] = ()) -> None:
        self._policies: list[Policy] = list(policies)

    @property
    def policies(self) -> list[Policy]:
        """The policies, in evaluation order (a copy)."""
        return list(self._policies)

    def with_policies(self, extra: Iterable[Policy]) -> PolicyEvaluator:
        """A new evaluator with ``extra`` (e.g. an endpoint's policies) after these."""
        return PolicyEvaluator([*self._policies, *extra])

    def find(self, policy_type: type[Policy]) -> list[Policy]:
        """The policies that are instances of ``policy_type``."""
        return [policy for policy in self._policies if isinstance(policy, policy_type)]

    def evaluate(self, *, code: str, **context: Any) -> PolicyEvaluation:
        """Run every policy's code check."""
        return self._run("code", lambda p: p.evaluate(code=code, **context))

    def evaluate_intent_text(self, *, text: str, **context: Any) -> PolicyEvaluation:
        """Run every policy's intent-text check."""
        return self._run("intent_text", lambda p: p.evaluate_intent_text(text=text, **context))

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> PolicyEvaluation:
        """Run every policy's tool-call check."""
        return self._run(
            "tool_call",
            lambda p: p.evaluate_tool_call(tool_name=tool_name, arguments=arguments, **context),
        )

    def _run(self, stage: str, check: Callable[[Policy], PolicyResult]) -> PolicyEvaluation:
        results: list[PolicyResult] = []
        for policy in self._policies:
            try:
                results.append(check(policy))
            except Exception as exc:
                results.append(
                    policy.result(
                        violations=[f"policy failed to evaluate: {type(exc).__name__}: {exc}"]
                    )
                )
        return PolicyEvaluation(stage=stage, results=results)


def evaluations_to_json(evaluations: Sequence[PolicyEvaluation]) -> list[dict[str, Any]]:
    """Serialise several evaluations (one per stage) for the trace."""
    return [evaluation.to_json() for evaluation in evaluations]
