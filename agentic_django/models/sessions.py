"""Conversations: sessions bound to their owner, and their turns."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .base import new_id


class AgentSessionQuerySet(models.QuerySet["AgentSession"]):
    def active(self, now: datetime | None = None) -> AgentSessionQuerySet:
        return self.filter(expires_at__gt=now or timezone.now())

    def expired(self, now: datetime | None = None) -> AgentSessionQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())


class AgentSession(models.Model):
    """A multi-turn conversation with agents, owned by one user (or anonymous)."""

    session_id = models.CharField(max_length=64, unique=True, default=new_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agent_sessions",
    )
    context = models.JSONField(default=dict, blank=True)
    turn_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_accessed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    objects = AgentSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("agent session")
        ordering = ("-last_accessed_at",)
        indexes = [
            models.Index(fields=["expires_at"], name="agentic_session_expires_idx"),
            models.Index(fields=["user", "-last_accessed_at"], name="agentic_session_user_idx"),
        ]

    def __str__(self) -> str:
        return self.session_id

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class SessionTurn(models.Model):
    """One request/response exchange inside a session, in order."""

    session = models.ForeignKey(AgentSession, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    endpoint_name = models.CharField(max_length=200)
    intent = models.TextField()
    response_summary = models.TextField(blank=True)
    trace = models.OneToOneField(
        "ExecutionTrace", null=True, blank=True, on_delete=models.SET_NULL, related_name="turn"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("session turn")
        ordering = ("session", "index")
        constraints = [
            models.UniqueConstraint(fields=["session", "index"], name="agentic_turn_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.index}"
