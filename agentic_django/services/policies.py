"""The policies that apply to an endpoint, and a per-request record of every evaluation.

``DEFAULT_POLICIES`` (instances, or dotted paths to instances) apply to every
endpoint; an endpoint's ``policies=`` are added to them. Evaluations are kept in
order so the trace shows each check the request went through, including the one
that denied it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import SETTINGS_NAME, agentic_settings, on_reload
from ..harness import PIIPolicy, Policy, PolicyEvaluation, PolicyEvaluator

P = TypeVar("P", bound=Policy)

_defaults: list[Policy] | None = None


def default_policies() -> list[Policy]:
    """``DEFAULT_POLICIES`` resolved to instances (once per settings reload)."""
    global _defaults
    if _defaults is None:
        _defaults = [_resolve(item) for item in agentic_settings.DEFAULT_POLICIES]
    return list(_defaults)


def _resolve(item: Any) -> Policy:
    if isinstance(item, str):
        try:
            item = import_string(item)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{SETTINGS_NAME}['DEFAULT_POLICIES']: cannot import {item!r}: {exc}"
            ) from exc
    if isinstance(item, type) and issubclass(item, Policy):
        item = item()
    if not isinstance(item, Policy):
        raise ImproperlyConfigured(
            f"{SETTINGS_NAME}['DEFAULT_POLICIES'] entries must be Policy instances or dotted "
            f"paths to them, got {item!r}."
        )
    return item


@on_reload
def _reset() -> None:
    global _defaults
    _defaults = None


class PolicyLedger:
    """The evaluator of one request, remembering every evaluation it made."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self.evaluator = PolicyEvaluator(policies)
        self.evaluations: list[PolicyEvaluation] = []

    @classmethod
    def for_endpoint(cls, endpoint_policies: Iterable[Policy]) -> PolicyLedger:
        return cls([*default_policies(), *endpoint_policies])

    def find(self, policy_type: type[P]) -> list[P]:
        return [p for p in self.evaluator.policies if isinstance(p, policy_type)]

    @property
    def policy_names(self) -> list[str]:
        return [policy.name for policy in self.evaluator.policies]

    def _keep(self, evaluation: PolicyEvaluation) -> PolicyEvaluation:
        if evaluation.results:
            self.evaluations.append(evaluation)
        return evaluation

    def check_intent_text(self, text: str, **context: Any) -> None:
        self._keep(self.evaluator.evaluate_intent_text(text=text, **context)).raise_if_denied()

    def check_code(self, code: str, **context: Any) -> None:
        self._keep(self.evaluator.evaluate(code=code, **context)).raise_if_denied()

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> PolicyEvaluation:
        """For the agentic loop, which raises on a denial itself."""
        return self._keep(
            self.evaluator.evaluate_tool_call(tool_name=tool_name, arguments=arguments, **context)
        )

    def redact(self, value: Any) -> Any:
        """``value`` with personal data replaced, for every PII policy in redact mode."""
        for policy in self.find(PIIPolicy):
            if policy.mode == "redact":
                value = policy.redact(value)
        return value

    def redact_for_storage(self, value: Any) -> Any:
        """What the trace may keep: redacted for PII policies in redact or block mode.

        A request refused for carrying personal data must not leave that data in
        the audit trail either.
        """
        for policy in self.find(PIIPolicy):
            if policy.mode in ("redact", "block"):
                value = policy.redact(value)
        return value

    def to_json(self) -> list[dict[str, Any]]:
        return [evaluation.to_json() for evaluation in self.evaluations]
