"""Checks comparing the code with the database (``migrate``, ``check --database default``).

They skip databases whose tables do not exist yet: ``migrate`` runs them first.
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from ..conf import SETTINGS_NAME, agentic_settings
from .configuration import approver_entries
from .ids import (
    W007_UNKNOWN_APPROVER,
    W008_UNKNOWN_AGENT_LLM_ALIAS,
)


def _has_tables(alias: str, *models: Any) -> bool:
    from django.db import connections

    tables = set(connections[alias].introspection.table_names())
    return all(model._meta.db_table in tables for model in models)


@checks.register(checks.Tags.database)
def check_approvers_exist(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """``group:`` and ``user:`` approvers that match nobody in the database."""
    from django.apps import apps

    if not databases or not apps.is_installed("django.contrib.auth"):
        return []
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import router

    user_model = get_user_model()
    entries = [entry for entry in approver_entries() if entry[2] in ("group", "user")]
    alias = router.db_for_read(Group)
    if not entries or alias not in databases or not _has_tables(alias, Group, user_model):
        return []
    groups = {value for _, _, kind, value in entries if kind == "group"}
    users = {value for _, _, kind, value in entries if kind == "user"}
    username = user_model.USERNAME_FIELD
    existing_groups = Group.objects.using(alias).filter(name__in=groups)
    existing_users = user_model._default_manager.db_manager(alias).filter(
        **{f"{username}__in": users}
    )
    found = {("group", name) for name in existing_groups.values_list("name", flat=True)} | {
        ("user", name) for name in existing_users.values_list(username, flat=True)
    }
    return [
        checks.Warning(
            f"Endpoint {endpoint!r}, approval rule {rule!r}: no {kind} {value!r} exists in the "
            f"database {alias!r}, so only superusers can decide its requests.",
            hint=f"Create the {kind} (or correct the rule's approvers).",
            id=W007_UNKNOWN_APPROVER,
        )
        for endpoint, rule, kind, value in entries
        if (kind, value) not in found
    ]


@checks.register(checks.Tags.database)
def check_agent_llm_aliases(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """An LLM alias override naming no configured backend breaks every request of the agent."""
    if not databases:
        return []
    from django.db import router

    from ..models import Agent

    alias = router.db_for_read(Agent)
    if alias not in databases or not _has_tables(alias, Agent):
        return []
    backends = agentic_settings.LLM_BACKENDS
    configured = set(backends) if isinstance(backends, dict) else set()
    overrides = Agent.objects.using(alias).exclude(llm_alias="").values_list("name", "llm_alias")
    return [
        checks.Warning(
            f"Agent {name!r} is set (in admin) to the LLM alias {llm_alias!r}, which is not "
            "configured.",
            hint=f"Add {llm_alias!r} to {SETTINGS_NAME}['LLM_BACKENDS'] or clear the agent's "
            "LLM alias override.",
            id=W008_UNKNOWN_AGENT_LLM_ALIAS,
        )
        for name, llm_alias in overrides
        if llm_alias not in configured
    ]
