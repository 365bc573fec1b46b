"""Admin for admin-managed agents: the switch, the overrides and their audit.

The usage dashboard and the playground hang off this admin's URLs
(``admin:agentic_django_agent_dashboard`` and ``admin:agentic_django_agent_playground``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from .models import Agent


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled")

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        extra = [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="{}_{}_dashboard".format(*info),
            ),
            path(
                "playground/",
                self.admin_site.admin_view(self.playground_view),
                name="{}_{}_playground".format(*info),
            ),
            path(
                "playground/trace/<str:trace_id>/",
                self.admin_site.admin_view(self.playground_trace_view),
                name="{}_{}_playground_trace".format(*info),
            ),
        ]
        return extra + super().get_urls()

    def dashboard_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from .admin_dashboard import usage_dashboard

        return usage_dashboard(request, self)

    def playground_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from .admin_playground import playground

        return playground(request, self)

    def playground_trace_view(self, request: HttpRequest, trace_id: str) -> HttpResponse:
        from .admin_playground import trace_link

        return trace_link(request, self, trace_id)
