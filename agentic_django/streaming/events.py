"""The events a streaming agent run emits, as strict pydantic models.

Every event has a ``kind``, a ``seq`` (0, 1, 2… within its run) and a
``timestamp``; the rest depends on the kind. ``final`` and ``error`` end a run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter


def _now() -> datetime:
    return datetime.now(tz=UTC)


class AgentEvent(BaseModel):
    """Fields every event carries; ``seq`` and ``timestamp`` are set when it is emitted."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    seq: int = Field(default=0, ge=0)
    timestamp: AwareDatetime = Field(default_factory=_now)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object sent to clients and stored as the event's payload."""
        return self.model_dump(mode="json")


class ThoughtEvent(AgentEvent):
    kind: Literal["thought"] = "thought"
    text: str
    iteration: int | None = None


class ToolCallStartedEvent(AgentEvent):
    kind: Literal["tool_call_started"] = "tool_call_started"
    tool: str
    call_id: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    iteration: int | None = None


class ToolCallCompletedEvent(AgentEvent):
    kind: Literal["tool_call_completed"] = "tool_call_completed"
    tool: str
    call_id: str = ""
    duration_ms: float = 0.0
    summary: str = ""
    error: str | None = None
    iteration: int | None = None


class ToolResultEvent(AgentEvent):
    kind: Literal["tool_result"] = "tool_result"
    tool: str
    call_id: str = ""
    result: Any = None


class PartialResultEvent(AgentEvent):
    kind: Literal["partial_result"] = "partial_result"
    text: str = ""
    data: Any = None


class ApprovalRequestedEvent(AgentEvent):
    kind: Literal["approval_requested"] = "approval_requested"
    approval_id: str
    prompt: str
    options: list[str]
    default_decision: str
    timeout_seconds: float
    expires_at: datetime | None = None
    approvers: list[str] = Field(default_factory=list)


class ApprovalResolvedEvent(AgentEvent):
    kind: Literal["approval_resolved"] = "approval_resolved"
    approval_id: str
    decision: str
    timed_out: bool = False
    decided_by: str | None = None
    reason: str = ""


class AutonomyChangedEvent(AgentEvent):
    kind: Literal["autonomy_changed"] = "autonomy_changed"
    previous: str
    current: str
    rules: list[str] = Field(default_factory=list)
    signal: dict[str, Any] = Field(default_factory=dict)
    requires_approval: bool = False


class WorkflowStepStartEvent(AgentEvent):
    kind: Literal["workflow_step_start"] = "workflow_step_start"
    step: str
    attempt: int = 1


class WorkflowStepCompleteEvent(AgentEvent):
    kind: Literal["workflow_step_complete"] = "workflow_step_complete"
    step: str
    next: Any = None
    duration_ms: float = 0.0


class WorkflowCheckpointEvent(AgentEvent):
    kind: Literal["workflow_checkpoint"] = "workflow_checkpoint"
    workflow: str
    pending: list[str] = Field(default_factory=list)
    reason: str = ""


class FinalEvent(AgentEvent):
    kind: Literal["final"] = "final"
    result: Any = None
    status: str = "completed"
    trace_id: str | None = None
    session_id: str | None = None
    approval_request: dict[str, Any] | None = None


class ErrorEvent(AgentEvent):
    kind: Literal["error"] = "error"
    message: str
    code: str = "error"
    status_code: int = 500
    trace_id: str | None = None


AnyEvent = Annotated[
    ThoughtEvent
    | ToolCallStartedEvent
    | ToolCallCompletedEvent
    | ToolResultEvent
    | PartialResultEvent
    | ApprovalRequestedEvent
    | ApprovalResolvedEvent
    | AutonomyChangedEvent
    | WorkflowStepStartEvent
    | WorkflowStepCompleteEvent
    | WorkflowCheckpointEvent
    | FinalEvent
    | ErrorEvent,
    Field(discriminator="kind"),
]

_adapter: TypeAdapter[Any] = TypeAdapter(AnyEvent)

#: Every event kind, in the order of the protocol documentation.
EVENT_KINDS: tuple[str, ...] = (
    "thought",
    "tool_call_started",
    "tool_call_completed",
    "tool_result",
    "partial_result",
    "approval_requested",
    "approval_resolved",
    "autonomy_changed",
    "workflow_step_start",
    "workflow_step_complete",
    "workflow_checkpoint",
    "final",
    "error",
)

#: Kinds that end a run: nothing is emitted after them.
TERMINAL_KINDS = frozenset({"final", "error"})

#: Longest error message sent to clients; the whole text stays on the trace.
MAX_ERROR_CHARS = 500


def parse_event(data: dict[str, Any]) -> AgentEvent:
    """Validate a wire object back into its event model (raises pydantic's ValidationError)."""
    event: AgentEvent = _adapter.validate_python(data)
    return event


def truncate_message(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
