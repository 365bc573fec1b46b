"""Admin for execution traces and LLM calls: the trace inspector and the CSV export.

Both are audit data written by the pipeline, so both are read-only here; only a
superuser deletes them, and only once the retention rules release them. A trace's
page shows everything the request did, gathered by ``services.trace_inspector``;
the changelist's filters also drive the CSV export (``services.trace_export``), streamed row by row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .admin_readonly import ReadOnlyAdminMixin, RetainedAdminMixin
from .conf import agentic_settings
from .models import ExecutionTrace, LLMCall
from .services import trace_export, trace_inspector


class PeriodFilter(admin.SimpleListFilter):
    """Rolling windows ending now, for the list and for exports of "the last N days"."""

    title = _("period")
    parameter_name = "period"
    periods = {
        "1h": (_("Last hour"), timedelta(hours=1)),
        "24h": (_("Last 24 hours"), timedelta(hours=24)),
        "7d": (_("Last 7 days"), timedelta(days=7)),
        "30d": (_("Last 30 days"), timedelta(days=30)),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(key, label) for key, (label, _delta) in self.periods.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        period = self.periods.get(self.value() or "")
        if period is None:
            return queryset
        return queryset.filter(created_at__gte=timezone.now() - period[1])


class UsernameFilter(admin.SimpleListFilter):
    """The traces of one user, by exact username, typed in (a list of every user won't do)."""

    title = _("user")
    parameter_name = "username"
    template = "admin/agentic_django/executiontrace/username_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        username = self.value()
        return queryset.filter(user__username=username) if username else queryset

    def choices(self, changelist: Any) -> Any:
        # One "choice": what the filter's form needs to keep the other filters.
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "other_parameters": [
                (name, value)
                for name, values in changelist.filter_params.items()
                if name != self.parameter_name
                for value in values
            ],
            "clear_query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }


@admin.register(ExecutionTrace)
class ExecutionTraceAdmin(RetainedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The trace inspector; view with ``view_executiontrace``; see ``RetainedAdminMixin``."""

    change_form_template = "admin/agentic_django/executiontrace/change_form.html"
    change_list_template = "admin/agentic_django/executiontrace/change_list.html"
    # Few, narrow columns: at 1280 px beside the navigation and the filters, status,
    # user, duration and cost must stay in view (the intent's action and domain ride
    # along under its text; the CSV export has every column).
    list_display = (
        "when",
        "agent",
        "status",
        "user",
        "intent_short",
        "duration",
        "cost",
    )
    list_filter = (
        "status",
        "endpoint_name",
        ("created_at", admin.DateFieldListFilter),
        PeriodFilter,
        UsernameFilter,
    )
    search_fields = ("intent_raw", "trace_id", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    # The page's sections come from the template; these are its summary at the top.
    fields = (
        "trace_id",
        "endpoint_name",
        "created_at",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "otel_trace",
    )
    readonly_fields = fields

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: ExecutionTrace) -> str:
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description=_("agent"), ordering="endpoint_name")
    def agent(self, obj: ExecutionTrace) -> str:
        return obj.endpoint_name

    @admin.display(description=_("intent"), ordering="intent_raw")
    def intent_short(self, obj: ExecutionTrace) -> str:
        text = Truncator(obj.intent_raw).chars(60)
        parsed = ".".join(part for part in (obj.intent_domain, obj.intent_action) if part)
        if not parsed:
            return text
        return format_html('{}<br><small class="quiet">{}</small>', text, parsed)

    @admin.display(description=_("duration"), ordering="duration_ms")
    def duration(self, obj: ExecutionTrace) -> str:
        return f"{obj.duration_ms:,.0f} ms"

    @admin.display(description=_("cost"), ordering="cost_usd")
    def cost(self, obj: ExecutionTrace) -> str:
        return f"${obj.cost_usd:.4f}"

    @admin.display(description=_("OpenTelemetry trace"))
    def otel_trace(self, obj: ExecutionTrace) -> str:
        """The request's span tree in the tracing UI (``OTEL_TRACE_URL``), or its id."""
        if not obj.otel_trace_id:
            return "-"
        template = agentic_settings.OTEL_TRACE_URL
        if not template:
            return obj.otel_trace_id
        url = template.format(trace_id=obj.otel_trace_id, span_id=obj.otel_span_id)
        return format_html('<a href="{}" rel="noopener">{}</a>', url, obj.otel_trace_id)

    # --- the trace page ---

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The API answers with the public ``trace_id``: a URL built from it leads to the page.
        if not object_id.isdigit() and self.has_view_permission(request):
            pk = (
                ExecutionTrace.objects.filter(trace_id=unquote(object_id))
                .values_list("pk", flat=True)
                .first()
            )
            if pk is not None:
                opts = self.opts
                return redirect(
                    reverse(
                        f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                        args=[pk],
                    )
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ExecutionTrace | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["inspection"] = trace_inspector.inspect_trace(
                obj, events_page=_page_number(request.GET.get("events_page"))
            )
            context["user_url"] = _user_admin_url(obj.user)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- the CSV export ---

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name=f"{opts.app_label}_{opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The traces the changelist shows for this querystring, as a streamed CSV file."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            # The changelist's own filtering, search and ordering, so the file is the list.
            traces = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(gettext("Unknown filter in the export's query string."))
        lines = trace_export.csv_lines(traces)
        response = StreamingHttpResponse(
            trace_export.in_batches(lines) if isinstance(request, ASGIRequest) else lines,
            content_type="text/csv; charset=utf-8",
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="traces-{stamp}.csv"'
        return response


@admin.register(LLMCall)
class LLMCallAdmin(RetainedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every call to an LLM provider, read-only: what it cost and how long it took."""

    list_display = (
        "created_at",
        "endpoint_name",
        "alias",
        "provider",
        "model",
        "purpose",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "trace_link",
    )
    list_filter = (
        "purpose",
        "provider",
        "endpoint_name",
        "alias",
        ("created_at", admin.DateFieldListFilter),
        PeriodFilter,
    )
    search_fields = ("endpoint_name", "model", "user__username", "trace__trace_id")
    list_select_related = ("trace",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "trace_link",
        "user",
        "endpoint_name",
        "alias",
        "provider",
        "model",
        "purpose",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "finish_reason",
        "error",
    )
    readonly_fields = fields

    @admin.display(description=_("trace"), ordering="trace")
    def trace_link(self, obj: LLMCall) -> str:
        if obj.trace_id is None:
            return "-"
        url = reverse("admin:agentic_django_executiontrace_change", args=[obj.trace_id])
        return format_html('<a href="{}">{}</a>', url, obj.trace.trace_id[:12])


def _page_number(value: str | None) -> int | None:
    """A page number from the querystring; anything else means no page."""
    if value is None or not value.isdigit():
        return None
    return max(int(value), 1)


def _user_admin_url(user: Any) -> str:
    """The admin page of ``user``, or "" when the user model has none."""
    if user is None:
        return ""
    opts = user._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[user.pk])
    except NoReverseMatch:
        return ""
