"""The usage dashboard in admin: requests, outcomes, LLM cost and latency per agent.

Served by ``AgentAdmin`` at ``admin:agentic_django_agent_dashboard`` (staff only,
through ``admin_site.admin_view``) to users who may view execution traces. The
figures come from :func:`agentic_django.services.usage.usage_report`; the charts
are SVG drawn by :mod:`agentic_django.services.charts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from .models import Agent
from .registry import agents as agent_site
from .services.charts import Series, bar_chart
from .services.usage import InvalidPeriod, Period, UsageReport, usage_report

#: The permission the dashboard needs: it shows what the traces hold, in aggregate.
VIEW_PERMISSION = "agentic_django.view_executiontrace"
PRESETS = {
    "24h": (_("Last 24 hours"), lambda: Period.last_hours(24)),
    "7d": (_("Last 7 days"), lambda: Period.last_days(7)),
    "30d": (_("Last 30 days"), lambda: Period.last_days(30)),
    "90d": (_("Last 90 days"), lambda: Period.last_days(90)),
}
DEFAULT_PRESET = "7d"
CUSTOM = "custom"


class UsagePeriodForm(forms.Form):
    """The period (a preset or a from/to date range) and an optional agent."""

    period = forms.ChoiceField(
        label=_("Period"),
        required=False,
        choices=[(key, label) for key, (label, _make) in PRESETS.items()]
        + [(CUSTOM, _("Dates below"))],
    )
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    agent = forms.CharField(
        label=_("Agent"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "dashboard-agents", "placeholder": _("all")}),
    )

    def __init__(self, data: QueryDict | dict[str, str], **kwargs: Any) -> None:
        if data.get("start") or data.get("end"):
            # Dates win over a preset left selected, and the form shows it.
            data = data.copy()
            data["period"] = CUSTOM
        super().__init__(data, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        if data.get("period") == CUSTOM:
            start, end = data.get("start"), data.get("end")
            if not (start and end):
                raise forms.ValidationError(_("Give both dates of a custom range."))
            try:
                data["range"] = Period.between(start, end)
            except InvalidPeriod as exc:
                raise forms.ValidationError(str(exc)) from exc
        else:
            data["range"] = PRESETS[data.get("period") or DEFAULT_PRESET][1]()
        data["agent"] = data.get("agent") or None
        return data


def usage_dashboard(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """The dashboard page; 403 without the permission to view execution traces."""
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    form = UsagePeriodForm(request.GET or {"period": DEFAULT_PRESET})
    report = None
    if form.is_valid():
        report = usage_report(form.cleaned_data["range"], endpoint_name=form.cleaned_data["agent"])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Agent usage"),
        "form": form,
        "agent_names": sorted(
            set(agent_site.endpoints) | set(Agent.objects.values_list("name", flat=True))
        ),
        "report": report,
    }
    if report is not None:
        context.update(
            rows=[(usage, _trace_links(report, usage.endpoint_name)) for usage in report.agents],
            total_links=_trace_links(report, report.endpoint_name),
            charts=_charts(report),
        )
    return TemplateResponse(request, "admin/agentic_django/dashboard.html", context)


def _trace_links(report: UsageReport, endpoint_name: str | None) -> dict[str, str]:
    """The trace changelist filtered to the period (and agent): all and errors only."""
    changelist = reverse("admin:agentic_django_executiontrace_changelist")
    query: dict[str, str] = {
        "created_at__gte": _instant(report.period.start),
        "created_at__lt": _instant(report.period.end),
    }
    if endpoint_name is not None:
        query["endpoint_name"] = endpoint_name
    return {
        "all": f"{changelist}?{urlencode(query)}",
        "errors": f"{changelist}?{urlencode({**query, 'status__exact': 'error'})}",
    }


def _instant(moment: datetime) -> str:
    return timezone.localtime(moment).replace(microsecond=0).isoformat(sep=" ")


def _charts(report: UsageReport) -> dict[str, str]:
    """The three charts, as safe markup (the chart functions escape what they draw)."""
    days = [day.isoformat() for day in report.days]
    day_labels = [date_format(day, "M j") for day in report.days]

    def per_day(metric: str, title: str, **options: Any) -> str:
        values = report.daily_values(metric)
        return bar_chart(
            title=title,
            categories=days,
            category_labels=day_labels,
            series=[Series(name, values[name]) for name in values],
            category_key="day",
            series_key="agent",
            **options,
        )

    timed = [usage for usage in report.agents if usage.requests]
    return {
        # Safe: services.charts escapes every text and attribute it writes.
        name: mark_safe(markup)
        for name, markup in {
            "cost": per_day(
                "cost_usd",
                str(_("LLM cost per day (USD)")),
                format_value=_usd,
                empty_message=str(_("No LLM cost in this period.")),
            ),
            "requests": per_day(
                "requests",
                str(_("Requests per day")),
                empty_message=str(_("No requests in this period.")),
            ),
            "latency": bar_chart(
                title=str(_("Latency per agent (ms)")),
                categories=[usage.endpoint_name for usage in timed],
                series=[
                    Series("p50", [usage.p50_ms or 0.0 for usage in timed]),
                    Series("p95", [usage.p95_ms or 0.0 for usage in timed]),
                ],
                category_key="agent",
                series_key="percentile",
                stacked=False,
                format_value=lambda ms: f"{ms:,.0f} ms" if ms >= 10 else f"{ms:.1f} ms",
                empty_message=str(_("No requests in this period.")),
            ),
        }.items()
    }


def _usd(value: float) -> str:
    """Dollars with cents; amounts under a dollar keep their digits down to a micro-dollar."""
    if value >= 1 or value == 0:
        return f"${value:,.2f}"
    digits = f"{value:.6f}".rstrip("0")
    return "$" + digits.ljust(len("0.00"), "0")
