"""Admin for admin-managed agents: the switch, the overrides and their audit.

Rows are created by code (one per registered endpoint), so there is no "add";
every change goes through :func:`~agentic_django.services.agents.record_change`,
which audits it. The usage dashboard and the playground hang off this admin's URLs
(``admin:agentic_django_agent_dashboard`` and ``admin:agentic_django_agent_playground``).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .admin_readonly import ReadOnlyAdminMixin
from .core.intent import IntentAction
from .harness import BudgetPolicy
from .models import Agent, AgentChange
from .registry import NotRegistered, agents
from .services import agents as agent_service
from .services.llm import llm_backends

#: Changes listed on an agent's page (the full history is the AgentChange changelist).
RECENT_CHANGES = 20

#: Override fields whose blank value means "whatever the code declares".
_AS_IN_CODE = frozenset(Agent.SETTINGS_FIELDS) - {"enabled", "notes"}


def describe_value(name: str, value: Any) -> str:
    """An audited value as an operator reads it: "on", "as in code", "write, delete"."""
    if name == "enabled":
        return str(_("on") if value else _("off"))
    if value in (None, "", []):
        return str(_("as in code") if name in _AS_IN_CODE else _("(empty)"))
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def describe_changes(changes: dict[str, Any]) -> str:
    """One line per audit entry: ``autonomy override: as in code → manual; …``."""
    parts = []
    for name, (old, new) in changes.items():
        try:
            label = str(Agent._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:  # a field since removed from the model: keep its name
            label = name
        parts.append(f"{label}: {describe_value(name, old)} → {describe_value(name, new)}")
    return "; ".join(parts)


class DomainListField(forms.CharField):
    """Domain patterns typed as a comma-separated list, stored as a JSON list."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("["):
            value = json.loads(value)
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))


class AgentForm(forms.ModelForm):
    llm_alias = forms.ChoiceField(label=_("LLM alias override"), required=False)
    require_approval_actions = forms.MultipleChoiceField(
        label=_("Require approval for actions"),
        choices=[(action.value, action.value) for action in IntentAction],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Requests whose intent has one of these actions wait for a person."),
    )
    require_approval_domains = DomainListField(
        label=_("Require approval for domains"),
        required=False,
        help_text=_('Comma-separated domain patterns (fnmatch), e.g. "orders, refund*".'),
    )

    class Meta:
        model = Agent
        fields = Agent.SETTINGS_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        aliases = llm_backends.configured_aliases()
        current = self.instance.llm_alias if self.instance else ""
        choices = [("", _("As declared in code"))] + [(alias, alias) for alias in aliases]
        if current and current not in aliases:
            choices.append((current, _("%(alias)s (not configured)") % {"alias": current}))
        field = self.fields["llm_alias"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean_llm_alias(self) -> str:
        alias: str = self.cleaned_data["llm_alias"]
        if alias and alias not in llm_backends:
            raise forms.ValidationError(
                _("%(alias)s is not in AGENTIC_DJANGO['LLM_BACKENDS'].") % {"alias": alias}
            )
        return alias

    def clean_require_approval_domains(self) -> list[str]:
        domains: list[str] = self.cleaned_data["require_approval_domains"]
        for domain in domains:
            if len(domain) > 100 or any(char.isspace() for char in domain):
                raise forms.ValidationError(
                    _("%(domain)r is not a domain pattern.") % {"domain": domain}
                )
        return domains


def _registered(agent: Agent) -> Any:
    try:
        return agents.get(agent.name)
    except NotRegistered:
        return None


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = (
        "name",
        "registration",
        "enabled",
        "autonomy_level",
        "llm_override",
        "budget_overrides",
        "updated_at",
        "updated_by",
    )
    list_display_links = ("name",)
    list_filter = ("enabled", "autonomy_level")
    search_fields = ("name", "description", "notes")
    list_select_related = ("updated_by",)
    actions = ("switch_off", "switch_on")
    readonly_fields = (
        "name",
        "registration",
        "description",
        "declared_in_code",
        "updated_at",
        "updated_by",
        "recent_changes",
    )
    fieldsets = (
        (None, {"fields": ("name", "registration", "description", "enabled")}),
        (_("Declared in code"), {"fields": ("declared_in_code",)}),
        (
            _("Overrides"),
            {
                "fields": (
                    "autonomy_level",
                    ("llm_alias", "model"),
                    "require_approval_actions",
                    "require_approval_domains",
                )
            },
        ),
        (
            _("Budgets (USD)"),
            {"fields": ("max_per_request_usd", "max_per_user_per_day_usd", "max_per_day_usd")},
        ),
        (
            _("Notes and history"),
            {"fields": ("notes", "updated_at", "updated_by", "recent_changes")},
        ),
    )

    # --- permissions ---------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Agent | None = None) -> bool:
        # Only a row whose endpoint left the code: a registered one would come straight back.
        if obj is not None and _registered(obj) is not None:
            return False
        return super().has_delete_permission(request, obj)

    def has_toggle_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.toggle_agent") or (
            self.has_change_permission(request)
        )

    # --- columns ---------------------------------------------------------------------------

    @admin.display(description=_("registered"))
    def registration(self, obj: Agent) -> str:
        return str(_("yes")) if _registered(obj) is not None else str(_("not registered"))

    @admin.display(description=_("LLM override"))
    def llm_override(self, obj: Agent) -> str:
        return " / ".join(value for value in (obj.llm_alias, obj.model) if value) or "—"

    @admin.display(description=_("budget overrides"))
    def budget_overrides(self, obj: Agent) -> str:
        limits = (
            (_("request"), obj.max_per_request_usd),
            (_("user/day"), obj.max_per_user_per_day_usd),
            (_("day"), obj.max_per_day_usd),
        )
        return ", ".join(f"{label} ${value}" for label, value in limits if value is not None) or "—"

    @admin.display(description=_("as declared in code"))
    def declared_in_code(self, obj: Agent) -> str:
        endpoint = _registered(obj)
        if endpoint is None:
            return str(_("Not registered: no agents.py declares this endpoint any more."))
        budgets = [policy for policy in endpoint.policies if isinstance(policy, BudgetPolicy)]
        rows = [
            (_("engine"), endpoint.engine),
            (_("autonomy"), endpoint.autonomy_level),
            (_("LLM alias"), endpoint.llm_alias),
            (_("streaming"), endpoint.streaming or "no"),
            (
                _("approval rules"),
                ", ".join(rule.name for rule in endpoint.approval.rules)
                if endpoint.approval
                else "—",
            ),
            (
                _("budgets"),
                ", ".join(
                    f"{scope.value} ${limit}"
                    for budget in budgets
                    for scope, limit in budget.limits().items()
                )
                or "—",
            ),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description=_("recent changes"))
    def recent_changes(self, obj: Agent) -> str:
        changes = obj.changes.select_related("changed_by")[:RECENT_CHANGES]
        rows = [
            (
                change.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
                change.changed_by or "—",
                change.via,
                describe_changes(change.changes),
            )
            for change in changes
        ]
        if not rows:
            return "—"
        history = (
            reverse("admin:agentic_django_agentchange_changelist") + f"?agent__id__exact={obj.pk}"
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>"
            '<a href="{}">{}</a>',
            _("when"),
            _("who"),
            _("via"),
            _("what changed"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
            history,
            _("Full history"),
        )

    # --- saving ----------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        before = Agent.objects.get(pk=obj.pk).settings_snapshot()
        agent_service.record_change(obj, before, user=request.user, via="admin")

    @admin.action(description=_("Switch off the selected agents"), permissions=["toggle"])
    def switch_off(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._switch(request, queryset, enabled=False)

    @admin.action(description=_("Switch on the selected agents"), permissions=["toggle"])
    def switch_on(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._switch(request, queryset, enabled=True)

    def _switch(self, request: HttpRequest, queryset: QuerySet[Agent], *, enabled: bool) -> None:
        changed = agent_service.set_enabled(
            queryset, enabled, user=request.user, via="admin action"
        )
        if enabled:
            message = ngettext(
                "%(count)d agent switched on.", "%(count)d agents switched on.", changed
            )
        else:
            message = ngettext(
                "%(count)d agent switched off: it answers 503 until switched on again.",
                "%(count)d agents switched off: they answer 503 until switched on again.",
                changed,
            )
        self.message_user(request, message % {"count": changed}, messages.SUCCESS)

    # --- extra pages -----------------------------------------------------------------------

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


@admin.register(AgentChange)
class AgentChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit of agent settings: read-only, like every audit record."""

    list_display = ("changed_at", "agent", "changed_by", "via", "summary")
    list_filter = ("agent", "via", ("changed_at", admin.DateFieldListFilter))
    search_fields = ("agent__name", "changed_by__username")
    list_select_related = ("agent", "changed_by")
    date_hierarchy = "changed_at"
    fields = ("agent", "changed_at", "changed_by", "via", "summary")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("what changed"))
    def summary(self, obj: AgentChange) -> str:
        return describe_changes(obj.changes)
