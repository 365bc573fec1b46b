"""What every request did: execution traces and the LLM calls they made."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .base import new_id
from .sessions import AgentSession


class TraceStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    ERROR = "error", _("Error")
    POLICY_DENIED = "policy_denied", _("Policy denied")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    BUDGET_EXCEEDED = "budget_exceeded", _("Budget exceeded")
    CLARIFICATION_NEEDED = "clarification_needed", _("Clarification needed")
    AGENT_DISABLED = "agent_disabled", _("Agent disabled")


class TraceTransport(models.TextChoices):
    """How a request arrived, where it is not the HTTP API (blank)."""

    MCP = "mcp", _("MCP")


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
    #: "mcp" for a call of an MCP client; blank for the HTTP API, streams and Python.
    transport = models.CharField(
        max_length=16, choices=TraceTransport.choices, blank=True, default=""
    )
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
    #: The OpenTelemetry trace and span of the request (hex; blank without tracing),
    #: so admin can link to the span tree and a later approval can link back.
    otel_trace_id = models.CharField(_("OpenTelemetry trace id"), max_length=32, blank=True)
    otel_span_id = models.CharField(_("OpenTelemetry span id"), max_length=16, blank=True)

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
    usage_estimated = models.BooleanField(
        default=False,
        help_text=_(
            "The backend reported no token usage; the counts (and the cost) were "
            "estimated from the text sent and received."
        ),
    )
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    #: Which table priced the call: "setting" (PRICING), "genai-prices", "built-in"
    #: (the mock backend), or blank when nothing knew the model (cost 0).
    price_source = models.CharField(max_length=20, blank=True)
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
