"""Streaming runs and the events they emitted, replayable from any process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .base import new_id
from .sessions import AgentSession
from .traces import ExecutionTrace


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    WAITING_APPROVAL = "waiting_approval", _("Waiting for approval")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


#: A run in one of these states is still owned by the process that started it.
LIVE_RUN_STATES = (RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)


class AgentRunQuerySet(models.QuerySet["AgentRun"]):
    def live(self) -> AgentRunQuerySet:
        return self.filter(status__in=LIVE_RUN_STATES)

    def stale(self, cutoff: datetime) -> AgentRunQuerySet:
        """Live runs whose process has not shown a sign of life since ``cutoff``."""
        return self.live().filter(heartbeat_at__lt=cutoff)

    def visible_to(self, user: Any) -> AgentRunQuerySet:
        """Runs whose events ``user`` may read: their own, or every run for an active
        user holding ``agentic_django.view_agentrun`` (being staff is not enough).

        Approvers of a run's pending request may read it too; that takes the
        approval rules, see ``services.runs.find_visible``.
        """
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        if getattr(user, "is_active", False) and user.has_perm("agentic_django.view_agentrun"):
            return self.all()
        return self.filter(user_id=user.pk)


class AgentRun(models.Model):
    """One streamed execution of an endpoint; its events are :class:`StreamEvent` rows."""

    Status = RunStatus

    run_id = models.CharField(max_length=64, unique=True, default=new_id, editable=False)
    endpoint_name = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agent_runs",
    )
    session = models.ForeignKey(
        AgentSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    trace = models.ForeignKey(
        ExecutionTrace,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text=_("The execution trace, written when the run ends."),
    )
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING)
    intent_raw = models.TextField(blank=True)
    #: The seq of the last stored event; -1 before the first one.
    last_seq = models.IntegerField(default=-1)
    #: Which process runs it (``host:pid``), for operators.
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AgentRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("agent run")
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="agentic_run_status_idx"),
            models.Index(fields=["endpoint_name", "-created_at"], name="agentic_run_endpoint_idx"),
            models.Index(fields=["user", "-created_at"], name="agentic_run_user_idx"),
        ]

    def __str__(self) -> str:
        return self.run_id

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_RUN_STATES


class StreamEvent(models.Model):
    """One event of a run, stored in order; ``payload`` is the event exactly as sent."""

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("stream event")
        ordering = ("run", "seq")
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="agentic_stream_event_seq")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.kind}"
