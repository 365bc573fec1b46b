"""Admin-managed agents: reading each endpoint's settings row, merging its overrides, auditing.

Every request reads its agent's settings once (:func:`resolve_endpoint`): one query,
or none when ``AGENT_SETTINGS_CACHE`` names a cache shared by every process, which
is invalidated as soon as a change commits. A disabled agent refuses the request
with :class:`~agentic_django.core.exceptions.AgentDisabled` (503); an enabled one
gets a copy of its endpoint definition with the overrides merged in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.db import IntegrityError, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from ..conf import agentic_settings
from ..core.exceptions import AgentDisabled
from ..harness import ApprovalRule, ApprovalWorkflow, BudgetPolicy
from ..models import Agent, AgentChange
from .db import run_db

if TYPE_CHECKING:
    from ..registry import AgentEndpointDef, AgentSite

logger = logging.getLogger("agentic_django.agents")

#: The approval rule standing for an agent's require-approval-for override.
OVERRIDE_RULE_NAME = "agent settings (admin)"

CACHE_KEY = "agentic_django:agent-settings:{name}"
#: A save drops the entry at once; the expiry only bounds how long an entry written
#: by a read that raced with a save (and so holding the old values) can live.
CACHE_SECONDS = 60


def _usd(value: Decimal | float | str | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class AgentSettings:
    """What operators set on an agent; blank values mean "as declared in code"."""

    name: str
    enabled: bool = True
    autonomy_level: str = ""
    llm_alias: str = ""
    model: str = ""
    require_approval_actions: tuple[str, ...] = ()
    require_approval_domains: tuple[str, ...] = ()
    max_per_request_usd: float | None = None
    max_per_user_per_day_usd: float | None = None
    max_per_day_usd: float | None = None

    @classmethod
    def of(cls, agent: Agent) -> AgentSettings:
        return cls(
            name=agent.name,
            enabled=agent.enabled,
            autonomy_level=agent.autonomy_level,
            llm_alias=agent.llm_alias,
            model=agent.model,
            require_approval_actions=tuple(agent.require_approval_actions or ()),
            require_approval_domains=tuple(agent.require_approval_domains or ()),
            max_per_request_usd=_usd(agent.max_per_request_usd),
            max_per_user_per_day_usd=_usd(agent.max_per_user_per_day_usd),
            max_per_day_usd=_usd(agent.max_per_day_usd),
        )

    def to_cache(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_cache(cls, value: dict[str, Any]) -> AgentSettings:
        known = {item.name for item in fields(cls)}
        data = {key: value[key] for key in known if key in value}
        for key in ("require_approval_actions", "require_approval_domains"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)

    def overrides(self) -> dict[str, Any]:
        """The settings that differ from the code's declaration (for traces and listings)."""
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if item.name not in ("name", "enabled")
            and getattr(self, item.name) not in ("", (), None)
        }

    def budget_limits(self) -> dict[str, float]:
        limits = {
            "max_per_request_usd": self.max_per_request_usd,
            "max_per_user_per_day_usd": self.max_per_user_per_day_usd,
            "max_per_endpoint_per_day_usd": self.max_per_day_usd,
        }
        return {key: value for key, value in limits.items() if value is not None}

    def apply(self, endpoint: AgentEndpointDef) -> AgentEndpointDef:
        """``endpoint`` with these overrides merged in (the registered one is untouched)."""
        changes: dict[str, Any] = {"agent_settings": self}
        if self.llm_alias:
            changes["llm"] = self.llm_alias
        if self.model:
            changes["llm_model"] = self.model
        if self.autonomy_level == Agent.Autonomy.MANUAL:
            # Keep the engine the code chose; a person approves each of its actions.
            changes["approve_every_action"] = True
            if endpoint.autonomy_level == Agent.Autonomy.AUTO:
                changes["autonomy_level"] = Agent.Autonomy.SUPERVISED
        elif self.autonomy_level:
            changes["autonomy_level"] = self.autonomy_level
        if self.require_approval_actions or self.require_approval_domains:
            changes["approval"] = _with_override_rule(endpoint.approval, self)
        if limits := self.budget_limits():
            changes["policies"] = _with_budget(endpoint.policies, limits)
        return replace(endpoint, **changes)


def _with_override_rule(
    approval: ApprovalWorkflow | None, agent: AgentSettings
) -> ApprovalWorkflow:
    """The endpoint's rules with the override's rule first (first match wins)."""
    rule = ApprovalRule(
        name=OVERRIDE_RULE_NAME,
        require_for_actions=list(agent.require_approval_actions),
        require_for_domains=list(agent.require_approval_domains),
    )
    rules = [
        existing for existing in (approval.rules if approval else []) if existing.name != rule.name
    ]
    return ApprovalWorkflow([rule, *rules], notifier=approval.notifier if approval else None)


def _with_budget(policies: tuple[Any, ...], limits: dict[str, float]) -> tuple[Any, ...]:
    """The endpoint's policies with its budget's limits replaced by the overridden ones."""
    budgets = [policy for policy in policies if isinstance(policy, BudgetPolicy)]
    budget = budgets[0].model_copy(update=limits) if budgets else BudgetPolicy(**limits)
    return (*(policy for policy in policies if not isinstance(policy, BudgetPolicy)), budget)


# --- reading -----------------------------------------------------------------------------


def _cache() -> Any:
    alias = agentic_settings.AGENT_SETTINGS_CACHE
    return caches[alias] if alias else None


def _row(endpoint: AgentEndpointDef) -> Agent:
    """The endpoint's row, created on its first use (a concurrent first use is fine)."""
    try:
        return Agent.objects.get(name=endpoint.name)
    except Agent.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Agent.objects.create(name=endpoint.name, description=endpoint.description)
    except IntegrityError:
        return Agent.objects.get(name=endpoint.name)


def read_settings(endpoint: AgentEndpointDef) -> AgentSettings:
    """The current settings of ``endpoint``'s agent (cached when a shared cache is set)."""
    cache = _cache()
    key = CACHE_KEY.format(name=endpoint.name)
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            return AgentSettings.from_cache(cached)
    agent = AgentSettings.of(_row(endpoint))
    if cache is not None:
        cache.set(key, agent.to_cache(), timeout=CACHE_SECONDS)
    return agent


def forget_settings(name: str) -> None:
    """Drop the cached settings of agent ``name`` (every process reads the row next)."""
    cache = _cache()
    if cache is not None:
        cache.delete(CACHE_KEY.format(name=name))


def forget_saved(sender: Any, instance: Agent, **kwargs: Any) -> None:
    """``post_save`` / ``post_delete`` receiver: drop the cached settings once committed."""
    transaction.on_commit(lambda: forget_settings(instance.name), using=kwargs.get("using"))


def check_enabled(endpoint: AgentEndpointDef, agent: AgentSettings) -> None:
    """Raise :class:`AgentDisabled` (503) when an operator switched the agent off."""
    if not agent.enabled:
        raise AgentDisabled(f"The agent {endpoint.name!r} is switched off.")


def resolve_endpoint_sync(endpoint: AgentEndpointDef) -> AgentEndpointDef:
    """``endpoint`` as operated right now; raises AgentDisabled when it is switched off."""
    if endpoint.agent_settings is not None:
        return endpoint
    agent = read_settings(endpoint)
    check_enabled(endpoint, agent)
    return agent.apply(endpoint)


async def resolve_endpoint(endpoint: AgentEndpointDef) -> AgentEndpointDef:
    """:func:`resolve_endpoint_sync` from async code (one database round trip at most)."""
    if endpoint.agent_settings is not None:
        return endpoint
    return await run_db(resolve_endpoint_sync, endpoint)


def every_action_needs_approval(endpoint: AgentEndpointDef, action: str, domain: str) -> bool:
    """Whether an operator asked for a person to approve each action of this request.

    Either the agent's autonomy is set to manual in admin, or the intent matches
    the agent's require-approval-for override.
    """
    if endpoint.approve_every_action:
        return True
    if endpoint.agent_settings is None or endpoint.approval is None:
        return False
    rule = endpoint.approval.rule_for(action, domain)
    return rule is not None and rule.name == OVERRIDE_RULE_NAME


def disabled_names() -> Any:
    """A subquery of the switched-off agents' names (for the approval worker's claims)."""
    return Agent.objects.filter(enabled=False).values("name")


# --- rows and their audit ----------------------------------------------------------------


def create_agent_rows(sender: Any, *, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver: every registered endpoint gets its row.

    Django sends ``post_migrate`` for every app after any ``migrate``, including
    ``migrate other_app`` before our tables exist and ``migrate agentic_django zero``
    after they are gone: rows are only written when our schema is complete.
    """
    from ..registry import agents

    if not _schema_complete(using):
        return
    created = sync_agents(agents, using=using)
    if created and kwargs.get("verbosity", 1) >= 2:
        print(f"  Created {created} agent row(s).")


def _schema_complete(using: str) -> bool:
    """Whether every migration of this app is applied on ``using``."""
    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    label = Agent._meta.app_label
    return all(leaf in loader.applied_migrations for leaf in loader.graph.leaf_nodes(label))


def sync_agents(site: AgentSite, *, using: str = "default") -> int:
    """Create the rows of registered endpoints that have none; refresh descriptions.

    Runs after ``migrate``; returns how many rows were created.
    """
    rows = Agent.objects.using(using)
    existing = {agent.name: agent for agent in rows.filter(name__in=[e.name for e in site])}
    missing = [
        Agent(name=endpoint.name, description=endpoint.description)
        for endpoint in site
        if endpoint.name not in existing
    ]
    rows.bulk_create(missing, ignore_conflicts=True)
    stale = []
    for endpoint in site:
        agent = existing.get(endpoint.name)
        if agent is not None and agent.description != endpoint.description:
            agent.description = endpoint.description
            stale.append(agent)
    if stale:
        rows.bulk_update(stale, ["description"])
    return len(missing)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{"field": [old, new]}`` for each setting that changed."""
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if before.get(name) != value
    }


def record_change(
    agent: Agent, before: dict[str, Any], *, user: Any, via: str
) -> AgentChange | None:
    """Audit what changed on ``agent`` since ``before`` (a settings snapshot); save the row.

    Runs in one transaction with the save (the cached settings are dropped when
    it commits, by :func:`forget_saved`); switching an agent back on sends its
    waiting approved actions to the workers.
    """
    changes = diff(before, agent.settings_snapshot())
    if not changes:
        return None
    with transaction.atomic():
        agent.updated_at = timezone.now()
        agent.updated_by = user if getattr(user, "pk", None) is not None else None
        agent.save()
        change = AgentChange.objects.create(
            agent=agent, changed_by=agent.updated_by, changes=changes, via=via
        )
        if changes.get("enabled") == [False, True]:
            transaction.on_commit(lambda: resume_waiting_actions(agent.name))
    logger.info(
        "Agent %r changed by %s via %s: %s", agent.name, agent.updated_by, via, sorted(changes)
    )
    return change


def set_enabled(agents: Any, enabled: bool, *, user: Any, via: str) -> int:
    """Switch each agent of ``agents`` on or off (audited one by one); returns how many changed."""
    changed = 0
    for agent in agents:
        before = agent.settings_snapshot()
        agent.enabled = enabled
        if record_change(agent, before, user=user, via=via) is not None:
            changed += 1
    return changed


def resume_waiting_actions(name: str) -> int:
    """Hand the approved actions that waited while agent ``name`` was off to the workers."""
    from .approval_runs import enqueue, pending_execution, run_waiting_inline

    if agentic_settings.TASK_RUNNER == "inline":
        return run_waiting_inline(name)
    pks = pending_execution(name)
    for pk in pks:
        enqueue(pk)
    return len(pks)
