"""``AgentStream``: what a handler (and the engines) use to emit events while they work.

The stream numbers events, hands each one to a sink (the Django layer persists
and publishes them) and asks a gate for mid-stream approvals. It keeps no
history itself, so a run emitting thousands of events holds none of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ..harness.policies.autonomy import AutonomyLevel, AutonomyPolicy, AutonomySignal
from .events import (
    AgentEvent,
    ApprovalRequestedEvent,
    ApprovalResolvedEvent,
    AutonomyChangedEvent,
    ErrorEvent,
    FinalEvent,
    PartialResultEvent,
    ThoughtEvent,
    ToolCallCompletedEvent,
    ToolCallStartedEvent,
    ToolResultEvent,
    WorkflowCheckpointEvent,
    WorkflowStepCompleteEvent,
    WorkflowStepStartEvent,
    truncate_message,
)

EventSink = Callable[[AgentEvent], Awaitable[None]]

DEFAULT_OPTIONS = ("approve", "reject")
DEFAULT_APPROVAL_TIMEOUT = 300.0


class StreamClosed(RuntimeError):
    """An event was emitted after the run's ``final`` or ``error`` event."""


@dataclass(frozen=True)
class ApprovalTicket:
    """A mid-stream approval request as stored by the gate."""

    approval_id: str
    approvers: Sequence[str] = ()
    expires_at: Any = None


@dataclass(frozen=True)
class ApprovalOutcome:
    """How a mid-stream approval ended."""

    decision: str
    timed_out: bool = False
    decided_by: str | None = None
    reason: str = ""


class ApprovalGate(Protocol):
    """Stores a mid-stream approval request and waits for its decision."""

    async def open(
        self,
        *,
        prompt: str,
        options: Sequence[str],
        timeout_seconds: float,
        default_decision: str,
        owner_may_decide: bool,
    ) -> ApprovalTicket: ...

    async def wait(self, ticket: ApprovalTicket) -> ApprovalOutcome: ...


class AgentStream:
    """The event stream of one run, injected into handlers annotated ``AgentStream``.

    Escalation rule: when :meth:`report_signal` raises the autonomy level above
    the level the run started at (from ``auto`` to ``supervised``, or to
    ``manual``), :attr:`requires_approval` becomes
    true and stays true for the rest of the run; from then on :meth:`confirm` and
    every tool call of the agentic loop wait for a person's approval, and the
    run's owner may not approve them alone.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        run_id: str = "",
        gate: ApprovalGate | None = None,
        autonomy: AutonomyPolicy | None = None,
        autonomy_level: str = "auto",
    ) -> None:
        self.run_id = run_id
        self._sink = sink
        self._gate = gate
        self._autonomy = autonomy
        self._start = AutonomyLevel(autonomy.start if autonomy else autonomy_level)
        self._level = self._start
        self._approval_required = False
        self._next_seq = 0
        self._closed = False

    # --- state -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once ``final`` or ``error`` was emitted."""
        return self._closed

    @property
    def event_count(self) -> int:
        return self._next_seq

    @property
    def autonomy_level(self) -> AutonomyLevel:
        return self._level

    @property
    def requires_approval(self) -> bool:
        """True once a signal escalated the run above its starting level (see the class),
        or once :meth:`require_approval` was called."""
        return self._approval_required or self._level.rank > self._start.rank

    def require_approval(self) -> None:
        """From now on, as after an escalation, every action of the run waits for a person."""
        self._approval_required = True

    # --- emitting ----------------------------------------------------------------------

    async def emit(self, event: AgentEvent) -> AgentEvent:
        """Number ``event`` and hand it to the sink; returns it with its ``seq``."""
        if self._closed:
            raise StreamClosed(f"Run {self.run_id or '?'} already ended; {event.kind!r} dropped.")
        event.seq = self._next_seq
        event.timestamp = datetime.now(tz=UTC)
        self._next_seq += 1
        if event.kind in ("final", "error"):
            self._closed = True
        await self._sink(event)
        return event

    async def emit_thought(self, text: str, *, iteration: int | None = None) -> AgentEvent:
        return await self.emit(ThoughtEvent(text=text, iteration=iteration))

    async def emit_tool_call_started(
        self,
        tool: str,
        arguments: dict[str, Any] | None = None,
        *,
        call_id: str = "",
        iteration: int | None = None,
    ) -> AgentEvent:
        return await self.emit(
            ToolCallStartedEvent(
                tool=tool, arguments=dict(arguments or {}), call_id=call_id, iteration=iteration
            )
        )

    async def emit_tool_call_completed(
        self,
        tool: str,
        *,
        call_id: str = "",
        duration_ms: float = 0.0,
        summary: str = "",
        error: str | None = None,
        iteration: int | None = None,
    ) -> AgentEvent:
        return await self.emit(
            ToolCallCompletedEvent(
                tool=tool,
                call_id=call_id,
                duration_ms=duration_ms,
                summary=summary,
                error=error,
                iteration=iteration,
            )
        )

    async def emit_tool_result(self, tool: str, result: Any, *, call_id: str = "") -> AgentEvent:
        return await self.emit(ToolResultEvent(tool=tool, call_id=call_id, result=result))

    async def emit_partial(self, text: str = "", *, data: Any = None) -> AgentEvent:
        return await self.emit(PartialResultEvent(text=text, data=data))

    async def emit_workflow_step_start(self, step: str, *, attempt: int = 1) -> AgentEvent:
        return await self.emit(WorkflowStepStartEvent(step=step, attempt=attempt))

    async def emit_workflow_step_complete(
        self, step: str, *, next: Any = None, duration_ms: float = 0.0
    ) -> AgentEvent:
        return await self.emit(
            WorkflowStepCompleteEvent(step=step, next=next, duration_ms=duration_ms)
        )

    async def emit_workflow_checkpoint(
        self, workflow: str, *, pending: Sequence[str] = (), reason: str = ""
    ) -> AgentEvent:
        return await self.emit(
            WorkflowCheckpointEvent(workflow=workflow, pending=list(pending), reason=reason)
        )

    async def emit_final(
        self,
        result: Any = None,
        *,
        status: str = "completed",
        trace_id: str | None = None,
        session_id: str | None = None,
        approval_request: dict[str, Any] | None = None,
    ) -> AgentEvent:
        return await self.emit(
            FinalEvent(
                result=result,
                status=status,
                trace_id=trace_id,
                session_id=session_id,
                approval_request=approval_request,
            )
        )

    async def emit_error(
        self,
        message: str,
        *,
        code: str = "error",
        status_code: int = 500,
        trace_id: str | None = None,
    ) -> AgentEvent:
        """An ``error`` event; the message is truncated (the full text belongs on the trace)."""
        return await self.emit(
            ErrorEvent(
                message=truncate_message(message),
                code=code,
                status_code=status_code,
                trace_id=trace_id,
            )
        )

    async def on_engine_event(self, kind: str, payload: dict[str, Any]) -> None:
        """Translate an agentic loop or workflow callback into its stream event."""
        if kind == "thought":
            await self.emit_thought(payload.get("text", ""), iteration=payload.get("iteration"))
        elif kind == "tool_call_started":
            await self.emit_tool_call_started(
                payload.get("tool", ""),
                payload.get("arguments"),
                call_id=payload.get("call_id", ""),
                iteration=payload.get("iteration"),
            )
        elif kind == "tool_call_completed":
            await self.emit_tool_call_completed(
                payload.get("tool", ""),
                call_id=payload.get("call_id", ""),
                duration_ms=payload.get("duration_ms", 0.0),
                summary=payload.get("summary", ""),
                error=payload.get("error"),
                iteration=payload.get("iteration"),
            )
        elif kind == "workflow_step_start":
            await self.emit_workflow_step_start(payload["step"], attempt=payload.get("attempt", 1))
        elif kind == "workflow_step_complete":
            await self.emit_workflow_step_complete(
                payload["step"],
                next=payload.get("next"),
                duration_ms=payload.get("duration_ms", 0.0),
            )
        elif kind == "workflow_checkpoint":
            await self.emit_workflow_checkpoint(
                payload.get("workflow", ""),
                pending=payload.get("pending", ()),
                reason=payload.get("reason", ""),
            )

    # --- approvals and autonomy --------------------------------------------------------

    async def request_approval(
        self,
        prompt: str,
        options: Sequence[str] = DEFAULT_OPTIONS,
        timeout_seconds: float | None = None,
        default_decision: str | None = None,
        *,
        owner_may_decide: bool | None = None,
    ) -> str:
        """Ask a person and wait; returns the chosen option.

        Emits ``approval_requested``, then ``approval_resolved`` (with
        ``timed_out=true`` when nobody decided in time and ``default_decision``
        was applied). The default decision is the last option (``"reject"``).
        The run's owner may answer their own question unless the run was
        escalated (:attr:`requires_approval`).
        """
        options = [str(option) for option in options]
        if len(options) < 2 or len(set(options)) != len(options):
            raise ValueError("request_approval() needs at least two distinct options.")
        default = options[-1] if default_decision is None else default_decision
        if default not in options:
            raise ValueError(f"default_decision {default!r} is not one of {options}.")
        timeout = DEFAULT_APPROVAL_TIMEOUT if timeout_seconds is None else float(timeout_seconds)
        if timeout <= 0:
            raise ValueError("timeout_seconds must be positive.")
        if self._gate is None:
            raise RuntimeError("This stream cannot ask for approvals (no approval gate).")
        if owner_may_decide is None:
            owner_may_decide = not self.requires_approval
        ticket = await self._gate.open(
            prompt=prompt,
            options=options,
            timeout_seconds=timeout,
            default_decision=default,
            owner_may_decide=owner_may_decide,
        )
        await self.emit(
            ApprovalRequestedEvent(
                approval_id=ticket.approval_id,
                prompt=prompt,
                options=options,
                default_decision=default,
                timeout_seconds=timeout,
                expires_at=ticket.expires_at,
                approvers=list(ticket.approvers),
            )
        )
        outcome = await self._gate.wait(ticket)
        await self.emit(
            ApprovalResolvedEvent(
                approval_id=ticket.approval_id,
                decision=outcome.decision,
                timed_out=outcome.timed_out,
                decided_by=outcome.decided_by,
                reason=outcome.reason,
            )
        )
        return outcome.decision

    async def confirm(self, prompt: str, *, timeout_seconds: float | None = None) -> bool:
        """True at once while the run is not escalated; otherwise ask and wait for approval."""
        if not self.requires_approval:
            return True
        decision = await self.request_approval(
            prompt, DEFAULT_OPTIONS, timeout_seconds, "reject", owner_may_decide=False
        )
        return decision == "approve"

    async def report_signal(self, signal: AutonomySignal) -> AutonomyLevel:
        """Feed what the handler learned; may escalate (never relax) the autonomy level.

        Emits ``autonomy_changed`` when the level moves. Without an endpoint
        ``AutonomyPolicy`` the level never changes.
        """
        if self._autonomy is None:
            return self._level
        previous = self._level
        current = self._autonomy.evaluate_signal(signal, previous)
        if current != previous:
            self._level = current
            fired = [
                rule.name or rule.level.value
                for rule in self._autonomy.matching_rules(signal)
                if rule.level == current
            ]
            await self.emit(
                AutonomyChangedEvent(
                    previous=previous.value,
                    current=current.value,
                    rules=fired,
                    signal=signal.model_dump(mode="json", exclude_none=True),
                    requires_approval=self.requires_approval,
                )
            )
        return self._level
