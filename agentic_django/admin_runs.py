"""Admin for streaming runs: their state, links to trace and approvals, and their events.

A run may hold tens of thousands of events, so the page shows counts per kind
(one aggregate query) and the first and last events, never all of them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from .admin_readonly import ReadOnlyAdminMixin
from .models import AgentRun, StreamEvent

#: Events shown from each end of a run.
EVENTS_SHOWN = 25


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "run_id",
        "endpoint_name",
        "user",
        "status",
        "last_seq",
        "created_at",
        "heartbeat_at",
    )
    list_filter = ("status", "endpoint_name", ("created_at", admin.DateFieldListFilter))
    search_fields = ("run_id", "endpoint_name", "user__username", "intent_raw")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "run_id",
        "endpoint_name",
        "user",
        "status",
        "intent_raw",
        "trace_link",
        "session",
        "approvals",
        "last_seq",
        "worker",
        "created_at",
        "heartbeat_at",
        "finished_at",
        "event_counts",
        "event_timeline",
    )
    readonly_fields = fields

    @admin.display(description=_("trace"))
    def trace_link(self, obj: AgentRun) -> str:
        if obj.trace_id is None:
            return "-"
        url = reverse("admin:agentic_django_executiontrace_change", args=[obj.trace_id])
        return format_html('<a href="{}">{}</a>', url, obj.trace)

    @admin.display(description=_("approval requests"))
    def approvals(self, obj: AgentRun) -> str:
        rows = obj.approval_requests.values_list("pk", "request_id", "status")
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a> ({})',
                (
                    (reverse("admin:agentic_django_approvalrequest_change", args=[pk]), rid, status)
                    for pk, rid, status in rows
                ),
            )
            or "-"
        )

    @admin.display(description=_("events per kind"))
    def event_counts(self, obj: AgentRun) -> str:
        counts = obj.events.values("kind").annotate(n=Count("pk")).order_by("kind")
        return format_html_join(", ", "{}: {}", ((row["kind"], row["n"]) for row in counts)) or "-"

    @admin.display(description=_("events"))
    def event_timeline(self, obj: AgentRun) -> str:
        events = StreamEvent.objects.filter(run=obj).order_by("seq")
        first = list(events.values_list("seq", "kind", "created_at")[:EVENTS_SHOWN])
        last: list[Any] = []
        if obj.last_seq >= 2 * EVENTS_SHOWN:
            last = list(
                events.filter(seq__gt=obj.last_seq - EVENTS_SHOWN).values_list(
                    "seq", "kind", "created_at"
                )
            )
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", ((s, k, c) for s, k, c in first)
        )
        if last:
            skipped = last[0][0] - first[-1][0] - 1
            rows += format_html('<tr><td colspan="3">… {} more …</td></tr>', skipped)
            rows += format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", ((s, k, c) for s, k, c in last)
            )
        return format_html(
            "<table><thead><tr><th>seq</th><th>kind</th><th>stored</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )
