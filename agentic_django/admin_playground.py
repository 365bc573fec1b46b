"""The staff playground: send an intent to any registered agent from admin and watch it answer.

The page's script calls the public agent API as the logged-in user (session cookie
and CSRF token), so each endpoint's own authentication, permission and throttle
classes decide, as for any other client: the playground grants nothing by itself.
A disabled agent is listed too, and answers its 503 like it would anyone.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from .models import ApprovalRequest, ExecutionTrace
from .registry import AgentSite, agents
from .services.agents import disabled_names

TEMPLATE = "admin/agentic_django/playground.html"

#: Stands for an id in the URL templates handed to the page's script.
ID_PLACEHOLDER = "__id__"


def playground(request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> HttpResponse:
    """The page: pick an agent, send an intent, read the reply or the live events."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    admin_site = model_admin.admin_site
    listed = listed_agents(agents)
    config: dict[str, Any] = {
        "agents": listed,
        "trace_url": reverse(
            f"{admin_site.name}:agentic_django_agent_playground_trace", args=[ID_PLACEHOLDER]
        ),
        "approval_url": _approval_url(request, admin_site),
        "resume_url": _api_url("agentic_django:run-resume", ID_PLACEHOLDER),
        "placeholder": ID_PLACEHOLDER,
    }
    names = {agent["name"] for agent in listed}
    wanted = request.GET.get("agent", "")
    context = {
        **admin_site.each_context(request),
        "title": _("Agent playground"),
        "opts": model_admin.opts,
        "agents": listed,
        "selected": wanted if wanted in names else "",
        "api_missing": bool(listed) and config["resume_url"] is None,
        "config": config,
    }
    request.current_app = admin_site.name
    return TemplateResponse(request, TEMPLATE, context)


def listed_agents(site: AgentSite) -> list[dict[str, Any]]:
    """What the page shows and its script needs of every registered endpoint, by name.

    One query (the switched-off agents) whatever the number of endpoints.
    """
    disabled = {row["name"] for row in disabled_names()}
    listed = []
    for endpoint in sorted(site, key=lambda endpoint: endpoint.name):
        url = _api_url("agentic_django:endpoint", endpoint.name)
        listed.append(
            {
                "name": endpoint.name,
                "description": endpoint.description,
                "streaming": endpoint.streaming,
                "engine": endpoint.engine,
                "enabled": endpoint.name not in disabled,
                "url": url,
                # The stream consumer is routed next to the JSON endpoint (agentic_django.routing).
                "stream_url": f"{url}stream/" if url and endpoint.streaming else None,
            }
        )
    return listed


def trace_link(
    request: HttpRequest, model_admin: admin.ModelAdmin[Any], trace_id: str
) -> HttpResponse:
    """Redirect to the admin page of the trace a playground request left."""
    admin_site = model_admin.admin_site
    trace_admin = _model_admin(admin_site, ExecutionTrace)
    if trace_admin is None or not trace_admin.has_view_permission(request):
        raise PermissionDenied
    # Permission first: someone who may not see traces learns nothing about which exist.
    pk = trace_admin.get_queryset(request).filter(trace_id=trace_id).values_list("pk", flat=True)
    found = pk.first()
    if found is None:
        raise Http404(_("No execution trace with this id."))
    return HttpResponseRedirect(
        reverse(f"{admin_site.name}:agentic_django_executiontrace_change", args=[quote(found)])
    )


def _approval_url(request: HttpRequest, admin_site: admin.AdminSite) -> str | None:
    """The admin list of approval requests narrowed to one id, for those who may see it.

    The API gives the request's ``request_id``, not its primary key, so the page
    links to the list filtered on it rather than to the change page.
    """
    approvals_admin = _model_admin(admin_site, ApprovalRequest)
    if approvals_admin is None or not approvals_admin.has_view_permission(request):
        return None
    changelist = reverse(f"{admin_site.name}:agentic_django_approvalrequest_changelist")
    return f"{changelist}?request_id={ID_PLACEHOLDER}"


def _model_admin(admin_site: admin.AdminSite, model: type[Model]) -> Any:
    try:
        return admin_site.get_model_admin(model)
    except NotRegistered:
        return None


def _api_url(name: str, argument: str) -> str | None:
    """A URL of the agent API, or None when the project does not include its URLs."""
    try:
        return reverse(name, args=[argument])
    except NoReverseMatch:
        return None
