"""Durable state of agentic_django: sessions, traces, LLM calls, cached code, approvals."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_id() -> str:
    """A random 32-character hex identifier (public ids of sessions and traces)."""
    return uuid.uuid4().hex


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


class TraceStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    ERROR = "error", _("Error")
    POLICY_DENIED = "policy_denied", _("Policy denied")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    BUDGET_EXCEEDED = "budget_exceeded", _("Budget exceeded")
    CLARIFICATION_NEEDED = "clarification_needed", _("Clarification needed")
    AGENT_DISABLED = "agent_disabled", _("Agent disabled")


class ExecutionTraceQuerySet(models.QuerySet["ExecutionTrace"]):
    def for_endpoint(self, name: str) -> ExecutionTraceQuerySet:
        return self.filter(endpoint_name=name)

    def older_than(self, cutoff: datetime) -> ExecutionTraceQuerySet:
        return self.filter(created_at__lt=cutoff)


class ExecutionTrace(models.Model):
    """The audit record of one agent request, whatever its outcome."""

    Status = TraceStatus

    trace_id = models.CharField(max_length=64, unique=True, default=new_id, editable=False)
    endpoint_name = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agent_traces",
    )
    session = models.ForeignKey(
        AgentSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="traces"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=32, choices=TraceStatus.choices)
    intent_raw = models.TextField()
    intent_action = models.CharField(max_length=32, blank=True)
    intent_domain = models.CharField(max_length=100, blank=True)
    intent_parameters = models.JSONField(default=dict, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    duration_ms = models.FloatField(default=0.0)
    generated_code = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    policy_evaluations = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    #: What the harness did: code cache hit or miss, sandbox backend and isolation,
    #: monitor and validator results, workflow steps.
    harness_report = models.JSONField(default=dict, blank=True)
    #: The state of a loop or workflow that paused for approval, enough to resume it.
    checkpoint = models.JSONField(null=True, blank=True)
    #: Set on the trace of a worker carrying out an approved (or rejected) action.
    approval_request = models.ForeignKey(
        "ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="execution_traces",
    )
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    objects = ExecutionTraceQuerySet.as_manager()

    class Meta:
        verbose_name = _("execution trace")
        ordering = ("-created_at",)
        indexes = [
            models.Index(
                fields=["endpoint_name", "-created_at"], name="agentic_trace_endpoint_idx"
            ),
            models.Index(fields=["status", "-created_at"], name="agentic_trace_status_idx"),
            models.Index(fields=["created_at"], name="agentic_trace_created_idx"),
            models.Index(fields=["user", "-created_at"], name="agentic_trace_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_name} {self.status} {self.trace_id}"


class LLMCallPurpose(models.TextChoices):
    INTENT_PARSE = "intent_parse", _("Intent parsing")
    CODE_GENERATE = "code_generate", _("Code generation")
    LOOP = "loop", _("Agentic loop")
    WORKFLOW = "workflow", _("Workflow")
    HANDLER = "handler", _("Handler")


class LLMCall(models.Model):
    """One call to an LLM provider, with its usage and cost."""

    Purpose = LLMCallPurpose

    trace = models.ForeignKey(
        ExecutionTrace, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agent_llm_calls",
    )
    endpoint_name = models.CharField(max_length=200)
    alias = models.CharField(max_length=100)
    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=200)
    purpose = models.CharField(max_length=32, choices=LLMCallPurpose.choices)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.FloatField(default=0.0)
    finish_reason = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("LLM call")
        ordering = ("-created_at",)
        indexes = [
            models.Index(
                fields=["endpoint_name", "created_at"], name="agentic_llmcall_endpoint_idx"
            ),
            models.Index(fields=["user", "created_at"], name="agentic_llmcall_user_idx"),
            models.Index(fields=["created_at"], name="agentic_llmcall_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.model} {self.purpose}"


class CodeCacheEntryQuerySet(models.QuerySet["CodeCacheEntry"]):
    def live(self, now: datetime | None = None) -> CodeCacheEntryQuerySet:
        return self.filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now or timezone.now())
        )

    def expired(self, now: datetime | None = None) -> CodeCacheEntryQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())


class CodeCacheEntry(models.Model):
    """Generated code that ran successfully, reused for the same request shape.

    ``key`` hashes the endpoint, intent action and domain, tool and policy sets and
    the normalised parameters; ``scope`` is ``user:<pk>``, ``anonymous`` or ``shared``,
    so one user's code, which may embed values from the data the LLM saw, is never
    served to another unless the endpoint shares it on purpose.
    """

    key = models.CharField(max_length=64)
    scope = models.CharField(max_length=100)
    endpoint_name = models.CharField(max_length=200)
    intent_action = models.CharField(max_length=32, blank=True)
    intent_domain = models.CharField(max_length=100, blank=True)
    code = models.TextField()
    reasoning = models.TextField(blank=True)
    confidence = models.FloatField(default=1.0)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    #: When the entry was last stored or served; the least recent are evicted first.
    last_used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = CodeCacheEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("code cache entry")
        verbose_name_plural = _("code cache entries")
        ordering = ("-last_used_at",)
        constraints = [
            models.UniqueConstraint(fields=["key", "scope"], name="agentic_codecache_key_scope")
        ]
        indexes = [
            models.Index(fields=["last_used_at"], name="agentic_codecache_lru_idx"),
            models.Index(fields=["expires_at"], name="agentic_codecache_expires_idx"),
            models.Index(
                fields=["endpoint_name", "-last_used_at"], name="agentic_codecache_endpoint_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_name} {self.key[:12]} ({self.scope})"


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
        return f"{'approve' if self.approve else 'reject'} by {self.user_id}"
