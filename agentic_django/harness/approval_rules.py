"""Approval rules: which actions need a person's approval, and whose.

An endpoint's ``approval=ApprovalWorkflow(rules=[...])`` decides, for a request's
intent action and domain, whether generated code may run without a decision and
who may decide paused tool calls and workflow steps. Approvers are written
``group:NAME``, ``perm:app_label.codename`` or ``user:USERNAME``; the web layer
resolves them against Django's users, groups and permissions.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

APPROVER = re.compile(r"^(group|perm|user):(.+)$")
PERMISSION = re.compile(r"^[\w]+\.[\w]+$")


def parse_approver(entry: str) -> tuple[str, str]:
    """``"group:managers"`` → ``("group", "managers")``; ``ValueError`` if malformed."""
    match = APPROVER.match(entry.strip())
    if match is None:
        raise ValueError(
            f"Approver {entry!r} must be 'group:NAME', 'perm:app_label.codename' or 'user:USERNAME'"
        )
    kind, value = match.group(1), match.group(2).strip()
    if kind == "perm" and not PERMISSION.match(value):
        raise ValueError(f"Approver {entry!r}: a permission is written 'app_label.codename'")
    return kind, value


class ApprovalRule(BaseModel):
    """Actions needing approval (by intent action and domain) and who may approve them.

    Empty ``require_for_actions`` / ``require_for_domains`` match any action /
    domain; domains are ``fnmatch`` patterns. Empty ``approvers`` means anyone with
    the ``agentic_django.approve_approvalrequest`` permission (which every approver
    needs anyway). ``require_all_approvers`` needs one approval from each listed
    approver before the request counts as approved. ``timeout_seconds`` defaults
    to ``AGENTIC_DJANGO["APPROVAL_TIMEOUT_SECONDS"]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    require_for_actions: list[str] = Field(default_factory=list)
    require_for_domains: list[str] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)
    timeout_seconds: PositiveInt | None = None
    require_all_approvers: bool = False
    allow_self_approval: bool = False

    @field_validator("approvers")
    @classmethod
    def _valid_approvers(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_approver(entry)
        return [entry.strip() for entry in value]

    def matches(self, action: str, domain: str) -> bool:
        """Whether an intent ``action`` on ``domain`` falls under this rule."""
        if self.require_for_actions and action not in self.require_for_actions:
            return False
        return not self.require_for_domains or any(
            fnmatch.fnmatchcase(domain, pattern) for pattern in self.require_for_domains
        )


#: Applies to tool calls and workflow steps that ask for approval when no rule matches.
DEFAULT_RULE = ApprovalRule(name="default")


class ApprovalNotifier(Protocol):
    """Told when a request is created, decided, executed, about to expire or expired."""

    def notify(self, event: str, request: Any) -> None: ...


class ApprovalWorkflow:
    """The approval rules of an endpoint, first match wins, and who to notify."""

    def __init__(
        self, rules: Sequence[ApprovalRule] = (), *, notifier: ApprovalNotifier | None = None
    ) -> None:
        if not all(isinstance(rule, ApprovalRule) for rule in rules):
            raise TypeError("ApprovalWorkflow rules must be ApprovalRule instances")
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"ApprovalWorkflow rule names must be unique, got {names}")
        self.rules = list(rules)
        self.notifier = notifier

    def rule_for(self, action: str, domain: str) -> ApprovalRule | None:
        """The first rule matching the intent, or None: no approval needed for it."""
        return next((rule for rule in self.rules if rule.matches(action, domain)), None)

    def rule_named(self, name: str) -> ApprovalRule:
        """The rule called ``name``, or :data:`DEFAULT_RULE` (for stored requests)."""
        return next((rule for rule in self.rules if rule.name == name), DEFAULT_RULE)

    def __repr__(self) -> str:
        return f"ApprovalWorkflow(rules={[rule.name for rule in self.rules]})"
