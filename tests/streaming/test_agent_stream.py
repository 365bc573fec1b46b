"""AgentStream: numbering, closing, engine callbacks, mid-stream approvals and autonomy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from agentic_django.harness.policies.autonomy import (
    AutonomyLevel,
    AutonomyPolicy,
    AutonomySignal,
    EscalationRule,
)
from agentic_django.streaming import (
    AgentEvent,
    AgentStream,
    ApprovalOutcome,
    ApprovalRequestedEvent,
    ApprovalResolvedEvent,
    ApprovalTicket,
    AutonomyChangedEvent,
    ErrorEvent,
    FinalEvent,
    StreamClosed,
    ThoughtEvent,
    ToolCallCompletedEvent,
    ToolCallStartedEvent,
    WorkflowCheckpointEvent,
    WorkflowStepCompleteEvent,
    WorkflowStepStartEvent,
    parse_event,
)
from agentic_django.streaming.events import MAX_ERROR_CHARS


class Sink:
    """Records every event handed to it, as the object and as its wire form at that moment."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []
        self.wire: list[dict[str, Any]] = []

    async def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)
        self.wire.append(event.to_wire())

    @property
    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


class Gate:
    """An approval gate that answers with a preset outcome and records what it was asked."""

    def __init__(self, outcome: ApprovalOutcome | None = None, **ticket: Any) -> None:
        self.outcome = outcome or ApprovalOutcome(decision="approve", decided_by="carol")
        self.ticket = ApprovalTicket(approval_id="ap-1", **ticket)
        self.opened: list[dict[str, Any]] = []
        self.waited: list[ApprovalTicket] = []

    async def open(
        self,
        *,
        prompt: str,
        options: Sequence[str],
        timeout_seconds: float,
        default_decision: str,
        owner_may_decide: bool,
    ) -> ApprovalTicket:
        self.opened.append(
            {
                "prompt": prompt,
                "options": list(options),
                "timeout_seconds": timeout_seconds,
                "default_decision": default_decision,
                "owner_may_decide": owner_may_decide,
            }
        )
        return self.ticket

    async def wait(self, ticket: ApprovalTicket) -> ApprovalOutcome:
        self.waited.append(ticket)
        return self.outcome


@pytest.fixture
def sink():
    return Sink()


@pytest.fixture
def stream(sink):
    return AgentStream(sink, run_id="run-1")


def policy(start: AutonomyLevel = AutonomyLevel.AUTO) -> AutonomyPolicy:
    return AutonomyPolicy(
        start=start,
        rules=[
            EscalationRule(
                name="low-confidence", level=AutonomyLevel.SUPERVISED, confidence_below=0.5
            ),
            EscalationRule(name="expensive", level=AutonomyLevel.SUPERVISED, cost_above_usd=1.0),
            EscalationRule(level=AutonomyLevel.MANUAL, flags=["destructive"]),
        ],
    )


# --- numbering and closing ------------------------------------------------------------


async def test_events_are_numbered_from_zero(stream, sink):
    returned = [
        await stream.emit_thought("a"),
        await stream.emit_partial("b"),
        await stream.emit_tool_result("t", {"x": 1}),
        await stream.emit_final({"ok": True}),
    ]
    assert [event.seq for event in returned] == [0, 1, 2, 3]
    assert [wire["seq"] for wire in sink.wire] == [0, 1, 2, 3]
    assert stream.event_count == 4


async def test_sink_receives_events_in_order(stream, sink):
    await stream.emit_thought("thinking", iteration=1)
    await stream.emit_tool_call_started("lookup", {"id": 1}, call_id="c1", iteration=1)
    await stream.emit_tool_call_completed("lookup", call_id="c1", duration_ms=2.0, summary="ok")
    await stream.emit_tool_result("lookup", [1, 2], call_id="c1")
    await stream.emit_partial("half", data={"n": 1})
    await stream.emit_workflow_step_start("fetch", attempt=2)
    await stream.emit_workflow_step_complete("fetch", next="done", duration_ms=1.5)
    await stream.emit_workflow_checkpoint("wf", pending=("approve",), reason="wait")
    await stream.emit_final("answer", trace_id="t-1", session_id="s-1")
    assert sink.kinds == [
        "thought",
        "tool_call_started",
        "tool_call_completed",
        "tool_result",
        "partial_result",
        "workflow_step_start",
        "workflow_step_complete",
        "workflow_checkpoint",
        "final",
    ]
    assert [event.seq for event in sink.events] == list(range(9))
    assert sink.wire[1]["arguments"] == {"id": 1}
    assert sink.wire[3]["result"] == [1, 2]
    assert sink.wire[7]["pending"] == ["approve"]
    assert sink.wire[8]["result"] == "answer"
    assert sink.wire[8]["trace_id"] == "t-1"
    for wire in sink.wire:
        assert parse_event(wire).to_wire() == wire


async def test_emit_numbers_a_prebuilt_event(stream, sink):
    await stream.emit_thought("first")
    event = ThoughtEvent(text="second", seq=99)
    returned = await stream.emit(event)
    assert returned is event
    assert event.seq == 1
    assert sink.events[-1] is event


async def test_tool_call_started_copies_arguments(stream, sink):
    arguments = {"id": 1}
    await stream.emit_tool_call_started("lookup", arguments)
    arguments["id"] = 2
    assert sink.events[0].arguments == {"id": 1}
    await stream.emit_tool_call_started("lookup")
    assert sink.events[1].arguments == {}


async def test_stream_starts_open(stream):
    assert not stream.closed
    assert stream.event_count == 0
    assert stream.autonomy_level is AutonomyLevel.AUTO
    assert not stream.requires_approval


@pytest.mark.parametrize("end", ["final", "error"])
async def test_terminal_event_closes_the_stream(stream, sink, end):
    await stream.emit_thought("a")
    if end == "final":
        await stream.emit_final({"ok": True})
    else:
        await stream.emit_error("failed", code="boom", status_code=502)
    assert stream.closed
    assert sink.kinds == ["thought", end]

    with pytest.raises(StreamClosed, match="run-1"):
        await stream.emit_thought("late")
    with pytest.raises(StreamClosed):
        await stream.emit_final()
    with pytest.raises(StreamClosed):
        await stream.emit_error("again")
    with pytest.raises(StreamClosed):
        await stream.on_engine_event("thought", {"text": "late"})
    assert sink.kinds == ["thought", end]
    assert stream.event_count == 2


async def test_emitting_a_terminal_model_directly_closes(stream, sink):
    await stream.emit(ErrorEvent(message="x"))
    assert stream.closed
    with pytest.raises(StreamClosed):
        await stream.emit(FinalEvent())


async def test_stream_closed_is_a_runtime_error():
    assert issubclass(StreamClosed, RuntimeError)


async def test_emit_final_fields(stream, sink):
    await stream.emit_final(
        None, status="awaiting_approval", approval_request={"approval_id": "ap-9"}
    )
    wire = sink.wire[0]
    assert wire["status"] == "awaiting_approval"
    assert wire["approval_request"] == {"approval_id": "ap-9"}


async def test_emit_error_fields(stream, sink):
    await stream.emit_error("bad input", code="invalid", status_code=400, trace_id="t-2")
    event = sink.events[0]
    assert isinstance(event, ErrorEvent)
    assert (event.message, event.code, event.status_code, event.trace_id) == (
        "bad input",
        "invalid",
        400,
        "t-2",
    )


async def test_emit_error_truncates_long_messages(stream, sink):
    await stream.emit_error("e" * (MAX_ERROR_CHARS * 3))
    message = sink.events[0].message
    assert len(message) == MAX_ERROR_CHARS
    assert message.endswith("…")
    assert message.startswith("eee")


# --- engine callbacks -----------------------------------------------------------------


async def test_engine_thought(stream, sink):
    await stream.on_engine_event("thought", {"iteration": 3, "text": "Need the order"})
    (event,) = sink.events
    assert isinstance(event, ThoughtEvent)
    assert (event.text, event.iteration) == ("Need the order", 3)


async def test_engine_tool_call_started(stream, sink):
    await stream.on_engine_event(
        "tool_call_started",
        {"iteration": 1, "tool": "lookup", "call_id": "c7", "arguments": {"id": 5}},
    )
    (event,) = sink.events
    assert isinstance(event, ToolCallStartedEvent)
    assert (event.tool, event.call_id, event.arguments, event.iteration) == (
        "lookup",
        "c7",
        {"id": 5},
        1,
    )


async def test_engine_tool_call_completed(stream, sink):
    await stream.on_engine_event(
        "tool_call_completed",
        {
            "iteration": 2,
            "tool": "lookup",
            "call_id": "c7",
            "duration_ms": 41.5,
            "summary": "3 rows",
            "error": "Tool 'lookup' timed out after 5 seconds",
        },
    )
    (event,) = sink.events
    assert isinstance(event, ToolCallCompletedEvent)
    assert event.tool == "lookup"
    assert event.call_id == "c7"
    assert event.duration_ms == 41.5
    assert event.summary == "3 rows"
    assert event.error == "Tool 'lookup' timed out after 5 seconds"
    assert event.iteration == 2


async def test_engine_workflow_step_start(stream, sink):
    await stream.on_engine_event("workflow_step_start", {"step": "fetch", "attempt": 3})
    (event,) = sink.events
    assert isinstance(event, WorkflowStepStartEvent)
    assert (event.step, event.attempt) == ("fetch", 3)


async def test_engine_workflow_step_complete(stream, sink):
    await stream.on_engine_event(
        "workflow_step_complete", {"step": "fetch", "next": ["a", "b"], "duration_ms": 7.0}
    )
    (event,) = sink.events
    assert isinstance(event, WorkflowStepCompleteEvent)
    assert (event.step, event.next, event.duration_ms) == ("fetch", ["a", "b"], 7.0)


async def test_engine_workflow_checkpoint_ignores_extra_payload_keys(stream, sink):
    # The workflow engine sends WorkflowCheckpoint.to_json(), which has more keys.
    await stream.on_engine_event(
        "workflow_checkpoint",
        {
            "workflow": "refund",
            "pending": ["approve"],
            "state": {"amount": 30},
            "completed_steps": ["fetch"],
            "reason": "needs approval",
        },
    )
    (event,) = sink.events
    assert isinstance(event, WorkflowCheckpointEvent)
    assert (event.workflow, event.pending, event.reason) == (
        "refund",
        ["approve"],
        "needs approval",
    )


async def test_engine_defaults_for_missing_payload_keys(stream, sink):
    await stream.on_engine_event("thought", {})
    await stream.on_engine_event("tool_call_started", {"tool": "t"})
    await stream.on_engine_event("workflow_step_start", {"step": "s"})
    thought, started, step = sink.events
    assert (thought.text, thought.iteration) == ("", None)
    assert (started.arguments, started.call_id) == ({}, "")
    assert step.attempt == 1


@pytest.mark.parametrize("kind", ["unknown", "final", "error", "tool_result", ""])
async def test_engine_unknown_kinds_are_ignored(stream, sink, kind):
    await stream.on_engine_event(kind, {"text": "x", "message": "y"})
    assert sink.events == []
    assert stream.event_count == 0
    assert not stream.closed


# --- approvals ------------------------------------------------------------------------


async def test_request_approval_emits_requested_then_resolved(sink):
    gate = Gate(
        ApprovalOutcome(decision="approve", decided_by="carol", reason="looks fine"),
        approvers=("carol", "dave"),
        expires_at="2025-03-01T12:35:00+00:00",
    )
    stream = AgentStream(sink, gate=gate)
    await stream.emit_thought("before")

    decision = await stream.request_approval("Refund 30 EUR?", timeout_seconds=120)

    assert decision == "approve"
    assert gate.opened == [
        {
            "prompt": "Refund 30 EUR?",
            "options": ["approve", "reject"],
            "timeout_seconds": 120.0,
            "default_decision": "reject",
            "owner_may_decide": True,
        }
    ]
    assert gate.waited == [gate.ticket]
    assert sink.kinds == ["thought", "approval_requested", "approval_resolved"]
    requested, resolved = sink.events[1:]
    assert isinstance(requested, ApprovalRequestedEvent)
    assert requested.seq == 1
    assert requested.approval_id == "ap-1"
    assert requested.prompt == "Refund 30 EUR?"
    assert requested.options == ["approve", "reject"]
    assert requested.default_decision == "reject"
    assert requested.timeout_seconds == 120.0
    assert requested.approvers == ["carol", "dave"]
    assert requested.expires_at is not None
    assert requested.expires_at.isoformat() == "2025-03-01T12:35:00+00:00"
    assert isinstance(resolved, ApprovalResolvedEvent)
    assert resolved.seq == 2
    assert (resolved.approval_id, resolved.decision, resolved.timed_out) == (
        "ap-1",
        "approve",
        False,
    )
    assert (resolved.decided_by, resolved.reason) == ("carol", "looks fine")
    assert not stream.closed


async def test_request_approval_timed_out(sink):
    gate = Gate(ApprovalOutcome(decision="reject", timed_out=True, reason="nobody answered"))
    stream = AgentStream(sink, gate=gate)
    decision = await stream.request_approval("Delete the file?")
    assert decision == "reject"
    resolved = sink.events[-1]
    assert isinstance(resolved, ApprovalResolvedEvent)
    assert resolved.timed_out is True
    assert resolved.decided_by is None
    assert resolved.reason == "nobody answered"
    assert sink.wire[-1]["timed_out"] is True


async def test_request_approval_returns_the_gate_decision(sink):
    gate = Gate(ApprovalOutcome(decision="later"))
    stream = AgentStream(sink, gate=gate)
    assert await stream.request_approval("When?", ["now", "later", "never"]) == "later"
    assert sink.events[-1].decision == "later"


async def test_request_approval_default_is_last_option(sink):
    gate = Gate()
    stream = AgentStream(sink, gate=gate)
    await stream.request_approval("Pick", ("red", "green", "blue"))
    assert gate.opened[0]["default_decision"] == "blue"
    assert gate.opened[0]["options"] == ["red", "green", "blue"]
    assert sink.events[0].default_decision == "blue"


async def test_request_approval_explicit_default_and_timeout(sink):
    gate = Gate()
    stream = AgentStream(sink, gate=gate)
    await stream.request_approval("Pick", ["yes", "no"], 5, "yes")
    assert gate.opened[0]["default_decision"] == "yes"
    assert gate.opened[0]["timeout_seconds"] == 5.0
    assert isinstance(gate.opened[0]["timeout_seconds"], float)


async def test_request_approval_default_timeout(sink):
    gate = Gate()
    stream = AgentStream(sink, gate=gate)
    await stream.request_approval("Ok?")
    assert gate.opened[0]["timeout_seconds"] == 300.0


async def test_request_approval_options_become_strings(sink):
    gate = Gate(ApprovalOutcome(decision="2"))
    stream = AgentStream(sink, gate=gate)
    await stream.request_approval("Which?", [1, 2])  # type: ignore[list-item]
    assert gate.opened[0]["options"] == ["1", "2"]
    assert gate.opened[0]["default_decision"] == "2"


async def test_request_approval_owner_may_decide_can_be_forced(sink):
    gate = Gate()
    stream = AgentStream(sink, gate=gate)
    await stream.request_approval("Ok?", owner_may_decide=False)
    assert gate.opened[0]["owner_may_decide"] is False


@pytest.mark.parametrize(
    ("options", "default", "timeout", "match"),
    [
        (["approve"], None, None, "two distinct"),
        ([], None, None, "two distinct"),
        (["approve", "approve"], None, None, "two distinct"),
        (["a", "b", "a"], None, None, "two distinct"),
        (["approve", "reject"], "maybe", None, "maybe"),
        (["approve", "reject"], None, 0, "positive"),
        (["approve", "reject"], None, -1.5, "positive"),
    ],
)
async def test_request_approval_validation(sink, options, default, timeout, match):
    gate = Gate()
    stream = AgentStream(sink, gate=gate)
    with pytest.raises(ValueError, match=match):
        await stream.request_approval("Ok?", options, timeout, default)
    assert gate.opened == []
    assert sink.events == []


async def test_request_approval_without_gate(stream, sink):
    with pytest.raises(RuntimeError, match="no approval gate"):
        await stream.request_approval("Ok?")
    assert sink.events == []


async def test_request_approval_after_close_does_not_wait(sink):
    gate = Gate()
    stream = AgentStream(sink, gate=gate)
    await stream.emit_final()
    with pytest.raises(StreamClosed):
        await stream.request_approval("Ok?")
    assert gate.waited == []


# --- autonomy ---------------------------------------------------------------------------


async def test_report_signal_escalates_once(sink):
    stream = AgentStream(sink, autonomy=policy())
    level = await stream.report_signal(AutonomySignal(confidence=0.2))
    assert level is AutonomyLevel.SUPERVISED
    assert stream.autonomy_level is AutonomyLevel.SUPERVISED
    assert stream.requires_approval
    (event,) = sink.events
    assert isinstance(event, AutonomyChangedEvent)
    assert (event.previous, event.current) == ("auto", "supervised")
    assert event.rules == ["low-confidence"]
    assert event.signal == {"confidence": 0.2, "flags": []}
    assert event.requires_approval is True


async def test_report_signal_lists_every_rule_that_fired_for_the_new_level(sink):
    stream = AgentStream(sink, autonomy=policy())
    await stream.report_signal(AutonomySignal(confidence=0.1, cost_usd=5.0))
    (event,) = sink.events
    assert event.rules == ["low-confidence", "expensive"]


async def test_report_signal_names_an_unnamed_rule_by_its_level(sink):
    stream = AgentStream(sink, autonomy=policy())
    level = await stream.report_signal(AutonomySignal(confidence=0.1, flags=["destructive"]))
    assert level is AutonomyLevel.MANUAL
    (event,) = sink.events
    assert (event.previous, event.current) == ("auto", "manual")
    assert event.rules == ["manual"]


async def test_report_signal_unchanged_level_emits_nothing(sink):
    stream = AgentStream(sink, autonomy=policy())
    assert await stream.report_signal(AutonomySignal(confidence=0.9)) is AutonomyLevel.AUTO
    assert sink.events == []
    assert not stream.requires_approval

    await stream.report_signal(AutonomySignal(confidence=0.2))
    assert len(sink.events) == 1
    # Same level again: no second event.
    await stream.report_signal(AutonomySignal(cost_usd=3.0))
    assert len(sink.events) == 1


async def test_report_signal_never_relaxes(sink):
    stream = AgentStream(sink, autonomy=policy())
    await stream.report_signal(AutonomySignal(flags=["destructive"]))
    assert stream.autonomy_level is AutonomyLevel.MANUAL
    # A signal that would only justify SUPERVISED, then a reassuring one.
    assert await stream.report_signal(AutonomySignal(confidence=0.2)) is AutonomyLevel.MANUAL
    assert await stream.report_signal(AutonomySignal(confidence=1.0)) is AutonomyLevel.MANUAL
    assert sink.kinds == ["autonomy_changed"]
    assert stream.requires_approval


async def test_report_signal_escalates_step_by_step(sink):
    stream = AgentStream(sink, autonomy=policy())
    await stream.report_signal(AutonomySignal(confidence=0.2))
    await stream.report_signal(AutonomySignal(flags=["destructive"]))
    assert [(e.previous, e.current) for e in sink.events] == [
        ("auto", "supervised"),
        ("supervised", "manual"),
    ]
    assert [e.seq for e in sink.events] == [0, 1]


async def test_report_signal_starts_from_the_policy_start_level(sink):
    stream = AgentStream(sink, autonomy=policy(AutonomyLevel.SUPERVISED))
    assert stream.autonomy_level is AutonomyLevel.SUPERVISED
    assert not stream.requires_approval
    await stream.report_signal(AutonomySignal(confidence=0.1))
    assert sink.events == []
    await stream.report_signal(AutonomySignal(flags=["destructive"]))
    assert (sink.events[0].previous, sink.events[0].current) == ("supervised", "manual")
    assert stream.requires_approval


async def test_without_policy_the_level_never_changes(stream, sink):
    signal = AutonomySignal(confidence=0.0, cost_usd=1000.0, flags=["destructive"])
    assert await stream.report_signal(signal) is AutonomyLevel.AUTO
    assert stream.autonomy_level is AutonomyLevel.AUTO
    assert not stream.requires_approval
    assert sink.events == []


async def test_without_policy_the_given_level_is_kept(sink):
    stream = AgentStream(sink, autonomy_level="manual")
    assert stream.autonomy_level is AutonomyLevel.MANUAL
    assert await stream.report_signal(AutonomySignal(confidence=0.0)) is AutonomyLevel.MANUAL
    assert not stream.requires_approval
    assert sink.events == []


async def test_unknown_autonomy_level_is_rejected(sink):
    with pytest.raises(ValueError):
        AgentStream(sink, autonomy_level="reckless")


async def test_confirm_before_escalation_does_not_ask(sink):
    gate = Gate(ApprovalOutcome(decision="reject"))
    stream = AgentStream(sink, gate=gate, autonomy=policy())
    assert await stream.confirm("Send the email?") is True
    assert gate.opened == []
    assert sink.events == []


async def test_confirm_without_gate_before_escalation(stream):
    assert await stream.confirm("Send the email?") is True


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ApprovalOutcome(decision="approve", decided_by="carol"), True),
        (ApprovalOutcome(decision="reject", decided_by="carol"), False),
        (ApprovalOutcome(decision="reject", timed_out=True), False),
    ],
)
async def test_confirm_after_escalation_asks_the_gate(sink, outcome, expected):
    gate = Gate(outcome)
    stream = AgentStream(sink, gate=gate, autonomy=policy())
    await stream.report_signal(AutonomySignal(confidence=0.2))
    assert stream.requires_approval

    assert await stream.confirm("Send the email?", timeout_seconds=30) is expected

    assert gate.opened == [
        {
            "prompt": "Send the email?",
            "options": ["approve", "reject"],
            "timeout_seconds": 30.0,
            "default_decision": "reject",
            "owner_may_decide": False,
        }
    ]
    assert sink.kinds == ["autonomy_changed", "approval_requested", "approval_resolved"]
    assert sink.events[-1].decision == outcome.decision
    assert sink.events[-1].timed_out is outcome.timed_out


async def test_request_approval_after_escalation_denies_the_owner(sink):
    gate = Gate()
    stream = AgentStream(sink, gate=gate, autonomy=policy())
    await stream.report_signal(AutonomySignal(flags=["destructive"]))
    await stream.request_approval("Ok?")
    assert gate.opened[0]["owner_may_decide"] is False


async def test_confirm_after_escalation_without_gate_raises(sink):
    stream = AgentStream(sink, autonomy=policy())
    await stream.report_signal(AutonomySignal(confidence=0.2))
    with pytest.raises(RuntimeError, match="no approval gate"):
        await stream.confirm("Ok?")
