"""Agent actions stopped until a person decides, the approvers and the decisions."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .base import new_id
from .sessions import AgentSession
from .traces import ExecutionTrace


class ApprovalKind(models.TextChoices):
    CODE = "code", _("Generated code")
    TOOL_CALL = "tool_call", _("Tool call")
    STREAM = "stream", _("Stream")
    WORKFLOW = "workflow", _("Workflow step")


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    EXECUTING = "executing", _("Executing")
    EXECUTED = "executed", _("Executed")
    FAILED = "failed", _("Failed")


class ApprovalRequestQuerySet(models.QuerySet["ApprovalRequest"]):
    def pending(self) -> ApprovalRequestQuerySet:
        return self.filter(status=ApprovalStatus.PENDING)

    def due(self, now: datetime | None = None) -> ApprovalRequestQuerySet:
        """Pending requests whose time is up."""
        return self.pending().filter(expires_at__lte=now or timezone.now())


class ApprovalRequest(models.Model):
    """An agent action stopped until a person decides, and what became of it.

    ``action`` holds everything needed to carry it out later (the code and its
    data, or the tool call and the conversation, or the workflow's checkpoint);
    ``fingerprint`` hashes it, so what runs is exactly what was reviewed.
    """

    Kind = ApprovalKind
    Status = ApprovalStatus

    request_id = models.CharField(max_length=64, unique=True, default=new_id, editable=False)
    kind = models.CharField(max_length=16, choices=ApprovalKind.choices)
    status = models.CharField(
        max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    endpoint_name = models.CharField(max_length=200)
    trace = models.ForeignKey(
        ExecutionTrace,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests",
        help_text=_("The request that stopped for approval."),
    )
    session = models.ForeignKey(
        AgentSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests",
    )
    run = models.ForeignKey(
        "agentic_django.AgentRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests",
        help_text=_("The streaming run waiting on this request (mid-stream approvals)."),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agent_approval_requests",
    )
    rule_name = models.CharField(max_length=100)
    approvers = models.JSONField(default=list, blank=True)
    require_all_approvers = models.BooleanField(default=False)
    allow_self_approval = models.BooleanField(default=False)
    summary = models.TextField(blank=True, help_text=_("What is being asked, for the approver."))
    action = models.JSONField()
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    expiry_warned_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agent_approval_decisions",
    )
    reason = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("approval request")
        ordering = ("-created_at",)
        permissions = [("approve_approvalrequest", _("Can approve or reject agent actions"))]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="agentic_approval_status_idx"),
            models.Index(
                fields=["endpoint_name", "-created_at"], name="agentic_approval_endpoint_idx"
            ),
            models.Index(fields=["requested_by", "-created_at"], name="agentic_approval_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.endpoint_name} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.status == ApprovalStatus.PENDING and self.expires_at <= timezone.now()


class ApprovalApprover(models.Model):
    """One approver entry of a request, as a row, so "what may I decide" is an indexed query."""

    request = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="approver_entries"
    )
    entry = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("approval approver")
        constraints = [
            models.UniqueConstraint(fields=["request", "entry"], name="agentic_approver_unique")
        ]
        indexes = [models.Index(fields=["entry"], name="agentic_approver_entry_idx")]

    def __str__(self) -> str:
        return self.entry


class ApprovalDecision(models.Model):
    """One person's decision on a request (several when every approver must agree)."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approve = models.BooleanField()
    #: The approver entries (``group:…``, ``perm:…``, ``user:…``, space-separated) the
    #: user satisfied when deciding; with ``require_all_approvers`` each counts.
    approver = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("approval decision")
        ordering = ("created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user"], name="agentic_decision_one_per_user"
            )
        ]

    def __str__(self) -> str:
        # Shown as the row title of the decisions inline: name the person, not a key.
        verb = _("approved") if self.approve else _("rejected")
        who = self.user.get_username() if self.user is not None else _("a deleted user")
        return f"{verb} by {who}"
