"""``manage.py agentic_endpoints``: the registered endpoints, as declared and as operated."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router

from agentic_django.api.policies import policy_classes
from agentic_django.harness import BudgetPolicy, Policy
from agentic_django.models import Agent
from agentic_django.registry import AgentEndpointDef, agents
from agentic_django.services.agents import AgentSettings
from agentic_django.services.policies import default_policies

#: Short names of the budget scopes, for the table.
SCOPE_LABELS = {
    "request": "request",
    "session": "session",
    "user_per_day": "user/day",
    "endpoint_per_day": "day",
}
COLUMNS = ("NAME", "ENABLED", "ENGINE", "AUTONOMY", "LLM", "STREAM", "APPROVAL", "BUDGET (USD)")
#: Marks a value an operator set in admin.
CHANGED = "*"


def _policies(policies: list[Policy]) -> list[dict[str, Any]]:
    described = []
    for policy in policies:
        entry: dict[str, Any] = {"name": policy.name}
        if isinstance(policy, BudgetPolicy):
            entry["limits"] = {scope.value: limit for scope, limit in policy.limits().items()}
        described.append(entry)
    return described


def _rule_names(endpoint: AgentEndpointDef) -> list[str]:
    return [rule.name for rule in endpoint.approval.rules] if endpoint.approval else []


def _declared(endpoint: AgentEndpointDef, defaults: list[Policy]) -> dict[str, Any]:
    return {
        "autonomy_level": endpoint.autonomy_level,
        "llm_alias": endpoint.llm_alias,
        "approval_rules": _rule_names(endpoint),
        "policies": _policies([*defaults, *endpoint.policies]),
    }


def _admin(row: Agent) -> dict[str, Any]:
    return {
        **row.settings_snapshot(),
        "updated_by": row.updated_by.get_username() if row.updated_by else None,
        "updated_at": row.updated_at.isoformat(),
    }


def describe(
    endpoint: AgentEndpointDef | None, row: Agent | None, defaults: list[Policy]
) -> dict[str, Any]:
    """One endpoint (or a row left by an endpoint no longer registered), JSON-ready."""
    if endpoint is None:
        assert row is not None
        return {
            "name": row.name,
            "registered": False,
            "description": row.description,
            "admin": _admin(row),
        }
    operated = AgentSettings.of(row).apply(endpoint) if row is not None else endpoint
    permissions = policy_classes("permission", endpoint.permission_classes)
    return {
        "name": endpoint.name,
        "registered": True,
        "description": endpoint.description,
        "engine": endpoint.engine,
        "streaming": endpoint.streaming,
        "tags": list(endpoint.tags),
        "permission_classes": [cls.__name__ for cls in permissions],
        "permission_classes_from": "endpoint" if endpoint.permission_classes else "settings",
        "code": _declared(endpoint, defaults),
        "admin": _admin(row) if row is not None else None,
        "effective": {
            "enabled": row.enabled if row is not None else True,
            "autonomy_level": (row.autonomy_level if row else "") or endpoint.autonomy_level,
            "llm_alias": operated.llm_alias,
            "model": operated.llm_model,
            "approval_rules": _rule_names(operated),
            "policies": _policies([*defaults, *operated.policies]),
        },
    }


def _budget(policies: list[dict[str, Any]]) -> str:
    """The tightest limit per scope over every budget policy, e.g. ``request 0.5, day 20``."""
    tightest: dict[str, float] = {}
    for policy in policies:
        for scope, limit in policy.get("limits", {}).items():
            tightest[scope] = min(limit, tightest.get(scope, limit))
    return ", ".join(
        f"{SCOPE_LABELS.get(scope, scope)} {limit:g}" for scope, limit in tightest.items()
    )


def _mark(value: str, changed: bool) -> str:
    return f"{value or '-'}{CHANGED if changed else ''}"


def table_row(entry: dict[str, Any]) -> tuple[str, ...]:
    """The table's cells for one described endpoint; admin-set values end with ``*``."""
    admin = entry["admin"] or {}
    if not entry["registered"]:
        enabled = "yes" if admin.get("enabled") else "no"
        return (entry["name"], enabled, "(not registered)", "", "", "", "", "")
    effective = entry["effective"]
    llm = effective["llm_alias"] + (f" ({effective['model']})" if effective["model"] else "")
    budget_changed = any(
        admin.get(key) is not None
        for key in ("max_per_request_usd", "max_per_user_per_day_usd", "max_per_day_usd")
    )
    return (
        entry["name"],
        _mark("yes" if effective["enabled"] else "no", not effective["enabled"]),
        entry["engine"],
        _mark(effective["autonomy_level"], bool(admin.get("autonomy_level"))),
        _mark(llm, bool(admin.get("llm_alias") or admin.get("model"))),
        entry["streaming"] or "-",
        _mark(
            ", ".join(entry["code"]["approval_rules"]),
            bool(admin.get("require_approval_actions") or admin.get("require_approval_domains")),
        ),
        _mark(_budget(effective["policies"]), budget_changed),
    )


def render_table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [COLUMNS, *rows]
    ]


class Command(BaseCommand):
    help = (
        "List the registered agent endpoints with what operators changed in admin (the Agent "
        "rows; blank settings follow the code). Rows whose endpoint is no longer registered "
        "are listed as not registered. In the table, '*' marks a value set in admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON for machines.")
        parser.add_argument(
            "--name",
            metavar="PATTERN",
            default="*",
            help="Only endpoints whose name matches this shell pattern (e.g. 'shop.*').",
        )
        parser.add_argument(
            "--database",
            default=None,
            help="The database holding the Agent rows (default: the router's choice).",
        )

    def handle(self, *args: Any, name: str, database: str | None, **options: Any) -> None:
        rows = self.agent_rows(database)
        try:
            defaults = default_policies()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        entries = [
            describe(endpoint, rows.pop(endpoint.name, None), defaults)
            for endpoint in agents
            if fnmatch.fnmatchcase(endpoint.name, name)
        ]
        entries += [
            describe(None, row, defaults)
            for row_name, row in rows.items()
            if fnmatch.fnmatchcase(row_name, name)
        ]
        entries.sort(key=lambda entry: entry["name"])
        if options["json"]:
            self.stdout.write(json.dumps(entries, indent=2))
            return
        if not entries:
            self.stdout.write(f"No endpoint matches {name!r}.")
            return
        cells = [table_row(entry) for entry in entries]
        for line in render_table(cells):
            self.stdout.write(line)
        if any(cell.endswith(CHANGED) for row in cells for cell in row):
            self.stdout.write(f"\n{CHANGED} set in admin (Agents); blank settings follow the code.")
        if options["verbosity"] >= 2:
            for entry in entries:
                self.write_details(entry)

    def agent_rows(self, database: str | None) -> dict[str, Agent]:
        """Every Agent row by name, in one query; a clear error before ``migrate``."""
        alias = database or router.db_for_read(Agent)
        if Agent._meta.db_table not in connections[alias].introspection.table_names():
            raise CommandError(
                f"The database {alias!r} has no agent settings table yet: run "
                "'manage.py migrate' first."
            )
        return {row.name: row for row in Agent.objects.using(alias).select_related("updated_by")}

    def write_details(self, entry: dict[str, Any]) -> None:
        """Everything about one endpoint, for ``-v 2``."""
        self.stdout.write(f"\n{entry['name']}")
        details: list[tuple[str, Any]] = [("description", entry["description"] or "-")]
        if entry["registered"]:
            details += [
                ("tags", ", ".join(entry["tags"]) or "-"),
                (
                    f"permissions ({entry['permission_classes_from']})",
                    ", ".join(entry["permission_classes"]),
                ),
                ("approval rules", ", ".join(entry["effective"]["approval_rules"]) or "-"),
                ("policies", json.dumps(entry["effective"]["policies"])),
            ]
        admin = entry["admin"]
        if admin is not None:
            changed = {
                key: value
                for key, value in admin.items()
                if key not in ("enabled", "notes", "updated_by", "updated_at")
                and value not in ("", [], None)
            }
            details.append(("admin settings", json.dumps(changed) if changed else "as in code"))
            if admin["updated_by"] is not None or changed or not admin["enabled"]:
                details.append(("changed", f"{admin['updated_at']} by {admin['updated_by']}"))
            details.append(("notes", admin["notes"] or "-"))
        for label, value in details:
            self.stdout.write(f"  {label}: {value}")
