"""Admin for the audit data of sessions (and their turns) and the code cache.

Agents, approval requests, streaming runs and traces have their own modules,
``admin_agents``, ``admin_approvals``, ``admin_runs`` and ``admin_traces``
(imported here so that admin autodiscovery registers them).
"""

from __future__ import annotations

import json

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
    admin_traces,  # noqa: F401  (registers ExecutionTraceAdmin and LLMCallAdmin)
)
from .admin_readonly import ReadOnlyAdminMixin
from .models import AgentSession, CodeCacheEntry, SessionTurn


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
