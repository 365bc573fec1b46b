"""Admin for the audit data (sessions, turns, traces) and the code cache.

Agents, approval requests and streaming runs have their own modules,
``admin_agents``, ``admin_approvals`` and ``admin_runs`` (imported here so that
admin autodiscovery registers them).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import (
    admin_agents,  # noqa: F401  (registers AgentAdmin, the dashboard and the playground)
    admin_approvals,  # noqa: F401  (registers ApprovalRequestAdmin)
    admin_runs,  # noqa: F401  (registers AgentRunAdmin)
)
from .models import AgentSession, CodeCacheEntry, ExecutionTrace, SessionTurn


class ReadOnlyAdminMixin:
    """Audit data is written by the pipeline only; admins may view and delete it."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SessionTurnInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SessionTurn
    extra = 0
    can_delete = False
    fields = ("index", "endpoint_name", "intent", "response_summary", "trace", "created_at")
    readonly_fields = fields
    ordering = ("index",)


@admin.register(AgentSession)
class AgentSessionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "session_id",
        "user",
        "turn_count",
        "created_at",
        "last_accessed_at",
        "expires_at",
    )
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("session_id", "user__username", "turns__intent")
    list_select_related = ("user",)
    readonly_fields = (
        "session_id",
        "user",
        "context_pretty",
        "turn_count",
        "created_at",
        "last_accessed_at",
        "expires_at",
    )
    exclude = ("context",)
    inlines = (SessionTurnInline,)
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("context"))
    def context_pretty(self, obj: AgentSession) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.context, indent=2, sort_keys=True))


@admin.register(ExecutionTrace)
class ExecutionTraceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "endpoint_name",
        "status",
        "user",
        "intent_short",
        "intent_action",
        "intent_domain",
        "duration_ms",
        "cost_usd",
    )
    list_filter = ("status", "endpoint_name", ("created_at", admin.DateFieldListFilter))
    search_fields = ("intent_raw", "trace_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "trace_id",
                    "endpoint_name",
                    "status",
                    "user",
                    "session",
                    "created_at",
                    "duration_ms",
                )
            },
        ),
        (
            _("Intent"),
            {
                "fields": (
                    "intent_raw",
                    "intent_action",
                    "intent_domain",
                    "intent_parameters_pretty",
                    "intent_confidence",
                )
            },
        ),
        (_("Outcome"), {"fields": ("result_pretty", "error", "error_type")}),
        (
            _("Harness"),
            {
                "fields": (
                    "generated_code",
                    "reasoning",
                    "policy_evaluations_pretty",
                    "tool_calls_pretty",
                    "harness_report_pretty",
                    "checkpoint_pretty",
                )
            },
        ),
        (_("LLM usage"), {"fields": ("input_tokens", "output_tokens", "cost_usd")}),
    )
    readonly_fields = tuple(name for _title, options in fieldsets for name in options["fields"])

    @admin.display(description=_("intent"))
    def intent_short(self, obj: ExecutionTrace) -> str:
        return obj.intent_raw if len(obj.intent_raw) <= 80 else obj.intent_raw[:77] + "..."

    @staticmethod
    def _pretty(value: Any) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str)
        )

    @admin.display(description=_("parameters"))
    def intent_parameters_pretty(self, obj: ExecutionTrace) -> str:
        return self._pretty(obj.intent_parameters)

    @admin.display(description=_("result"))
    def result_pretty(self, obj: ExecutionTrace) -> str:
        return self._pretty(obj.result)

    @admin.display(description=_("policy evaluations"))
    def policy_evaluations_pretty(self, obj: ExecutionTrace) -> str:
        return self._pretty(obj.policy_evaluations)

    @admin.display(description=_("tool calls"))
    def tool_calls_pretty(self, obj: ExecutionTrace) -> str:
        return self._pretty(obj.tool_calls)

    @admin.display(description=_("harness report"))
    def harness_report_pretty(self, obj: ExecutionTrace) -> str:
        return self._pretty(obj.harness_report)

    @admin.display(description=_("checkpoint"))
    def checkpoint_pretty(self, obj: ExecutionTrace) -> str:
        return self._pretty(obj.checkpoint)


@admin.register(CodeCacheEntry)
class CodeCacheEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Inspect cached programs; invalidate them (deleting needs the delete permission)."""

    list_display = (
        "endpoint_name",
        "intent_action",
        "intent_domain",
        "scope",
        "hits",
        "last_hit_at",
        "created_at",
        "expires_at",
    )
    list_filter = ("endpoint_name", "intent_action", ("created_at", admin.DateFieldListFilter))
    search_fields = ("key", "endpoint_name", "scope", "code")
    readonly_fields = (
        "key",
        "scope",
        "endpoint_name",
        "intent_action",
        "intent_domain",
        "code_block",
        "reasoning",
        "confidence",
        "hits",
        "created_at",
        "last_hit_at",
        "last_used_at",
        "expires_at",
    )
    exclude = ("code",)
    actions = ("invalidate",)
    show_full_result_count = False

    @admin.display(description=_("code"))
    def code_block(self, obj: CodeCacheEntry) -> str:
        return format_html("<pre><code>{}</code></pre>", obj.code)

    @admin.action(description=_("Invalidate selected entries"), permissions=["delete"])
    def invalidate(self, request: HttpRequest, queryset: QuerySet[CodeCacheEntry]) -> None:
        deleted, _by_model = queryset.delete()
        self.message_user(
            request,
            ngettext(
                "Invalidated %(count)d cache entry.",
                "Invalidated %(count)d cache entries.",
                deleted,
            )
            % {"count": deleted},
            messages.SUCCESS,
        )
