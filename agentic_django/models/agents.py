"""Admin-managed agents: the settings operators change without a deploy, and their audit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AutonomyOverride(models.TextChoices):
    AUTO = "auto", _("Auto: act alone (approval rules do not stop generated code)")
    SUPERVISED = "supervised", _("Supervised: the approval rules apply")
    MANUAL = "manual", _("Manual: a person approves every action")


def _usd_field(verbose_name: str, help_text: str) -> models.DecimalField[Any]:
    return models.DecimalField(
        verbose_name,
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=help_text,
    )


class Agent(models.Model):
    """One registered endpoint as operators see it: its switch and its overrides.

    Blank override fields mean "as declared in code". Rows are created by
    ``post_migrate`` and on an endpoint's first request; a row whose endpoint is
    no longer registered stays (with its history) and shows as not registered.
    """

    Autonomy = AutonomyOverride

    #: The fields an operator may change; every change to them is audited.
    SETTINGS_FIELDS = (
        "enabled",
        "autonomy_level",
        "llm_alias",
        "model",
        "require_approval_actions",
        "require_approval_domains",
        "max_per_request_usd",
        "max_per_user_per_day_usd",
        "max_per_day_usd",
        "notes",
    )

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True, editable=False)
    enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_(
            "Switched off, the agent answers 503 on every transport and its approved "
            "actions wait until it is switched on again."
        ),
    )
    autonomy_level = models.CharField(
        _("autonomy override"),
        max_length=16,
        choices=AutonomyOverride.choices,
        blank=True,
        help_text=_("Blank: the level declared in code."),
    )
    llm_alias = models.CharField(
        _("LLM alias override"),
        max_length=100,
        blank=True,
        help_text=_("A backend alias of AGENTIC_DJANGO['LLM_BACKENDS']; blank: as in code."),
    )
    model = models.CharField(
        _("model override"),
        max_length=200,
        blank=True,
        help_text=_("The provider's model name, sent instead of the backend's own."),
    )
    require_approval_actions = models.JSONField(
        _("require approval for actions"),
        default=list,
        blank=True,
        help_text=_('Intent actions that need a person\'s approval, e.g. ["write", "delete"].'),
    )
    require_approval_domains = models.JSONField(
        _("require approval for domains"),
        default=list,
        blank=True,
        help_text=_('Domain patterns (fnmatch) that need approval, e.g. ["orders", "refund*"].'),
    )
    max_per_request_usd = _usd_field(
        _("budget per request (USD)"), _("Blank: as in code (or unlimited).")
    )
    max_per_user_per_day_usd = _usd_field(
        _("budget per user per day (USD)"), _("Blank: as in code (or unlimited).")
    )
    max_per_day_usd = _usd_field(
        _("budget per day (USD)"),
        _("What the whole agent may spend in a day. Blank: as in code (or unlimited)."),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("changed at"), default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("agent")
        ordering = ("name",)
        permissions = [("toggle_agent", _("Can switch agents on and off"))]

    def __str__(self) -> str:
        return self.name

    def settings_snapshot(self) -> dict[str, Any]:
        """The operator-set fields as JSON-ready values (for the audit and the cache)."""
        snapshot: dict[str, Any] = {}
        for name in self.SETTINGS_FIELDS:
            value = getattr(self, name)
            snapshot[name] = str(value) if isinstance(value, Decimal) else value
        return snapshot


class AgentChange(models.Model):
    """One audited change to an :class:`Agent`: who, when, and each field's old and new value."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changed_at = models.DateTimeField(default=timezone.now, editable=False)
    #: ``{"field": [old, new], ...}``
    changes = models.JSONField(default=dict)
    #: Where the change came from: admin form, admin action, shell, command.
    via = models.CharField(max_length=50, blank=True)

    class Meta:
        verbose_name = _("agent change")
        ordering = ("-changed_at", "-pk")
        indexes = [models.Index(fields=["agent", "-changed_at"], name="agentic_agentchange_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {', '.join(self.changes)}"
