"""Event models: wire round-trip, strict validation, terminal kinds, message truncation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from agentic_django.streaming import (
    EVENT_KINDS,
    TERMINAL_KINDS,
    ErrorEvent,
    FinalEvent,
    ThoughtEvent,
    parse_event,
)
from agentic_django.streaming.events import MAX_ERROR_CHARS, truncate_message

NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)

#: One representative wire object per kind, with every required field and some optional ones.
SAMPLES: dict[str, dict[str, Any]] = {
    "thought": {"text": "Looking up the order", "iteration": 2},
    "tool_call_started": {
        "tool": "lookup_order",
        "call_id": "c1",
        "arguments": {"order_id": 42, "fields": ["total"]},
        "iteration": 1,
    },
    "tool_call_completed": {
        "tool": "lookup_order",
        "call_id": "c1",
        "duration_ms": 12.5,
        "summary": "1 row",
        "error": None,
        "iteration": 1,
    },
    "tool_result": {"tool": "lookup_order", "call_id": "c1", "result": {"total": 9.5}},
    "partial_result": {"text": "Half done", "data": [1, 2, 3]},
    "approval_requested": {
        "approval_id": "ap-1",
        "prompt": "Refund 30 EUR?",
        "options": ["approve", "reject"],
        "default_decision": "reject",
        "timeout_seconds": 60.0,
        "expires_at": (NOW + timedelta(minutes=1)).isoformat(),
        "approvers": ["carol"],
    },
    "approval_resolved": {
        "approval_id": "ap-1",
        "decision": "approve",
        "timed_out": False,
        "decided_by": "carol",
        "reason": "fine",
    },
    "autonomy_changed": {
        "previous": "auto",
        "current": "supervised",
        "rules": ["low-confidence"],
        "signal": {"confidence": 0.2, "flags": []},
        "requires_approval": True,
    },
    "workflow_step_start": {"step": "fetch", "attempt": 2},
    "workflow_step_complete": {"step": "fetch", "next": ["a", "b"], "duration_ms": 3.0},
    "workflow_checkpoint": {"workflow": "refund", "pending": ["approve"], "reason": "needs ok"},
    "final": {
        "result": {"answer": 42},
        "status": "completed",
        "trace_id": "t-1",
        "session_id": "s-1",
        "approval_request": None,
    },
    "error": {"message": "boom", "code": "tool_failed", "status_code": 502, "trace_id": "t-1"},
}

#: The fields each kind cannot do without.
REQUIRED: dict[str, set[str]] = {
    "thought": {"text"},
    "tool_call_started": {"tool"},
    "tool_call_completed": {"tool"},
    "tool_result": {"tool"},
    "partial_result": set(),
    "approval_requested": {
        "approval_id",
        "prompt",
        "options",
        "default_decision",
        "timeout_seconds",
    },
    "approval_resolved": {"approval_id", "decision"},
    "autonomy_changed": {"previous", "current"},
    "workflow_step_start": {"step"},
    "workflow_step_complete": {"step"},
    "workflow_checkpoint": {"workflow"},
    "final": set(),
    "error": {"message"},
}


def wire(kind: str, seq: int = 3, **overrides: Any) -> dict[str, Any]:
    return {"kind": kind, "seq": seq, "timestamp": NOW.isoformat(), **SAMPLES[kind], **overrides}


def test_samples_cover_every_kind():
    assert set(SAMPLES) == set(EVENT_KINDS) == set(REQUIRED)
    assert len(EVENT_KINDS) == len(set(EVENT_KINDS)) == 13


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_kind_parses_and_round_trips(kind):
    event = parse_event(wire(kind))
    assert event.kind == kind
    assert event.seq == 3
    assert event.timestamp == NOW
    for field, value in SAMPLES[kind].items():
        expected = datetime.fromisoformat(value) if field == "expires_at" else value
        assert getattr(event, field) == expected
    again = parse_event(event.to_wire())
    assert type(again) is type(event)
    assert again == event
    assert again.to_wire() == event.to_wire()


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_to_wire_is_json_native(kind):
    data = parse_event(wire(kind)).to_wire()
    assert json.loads(json.dumps(data)) == data
    assert isinstance(data["timestamp"], str)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_minimal_event_of_each_kind_parses(kind):
    minimal = {field: SAMPLES[kind][field] for field in REQUIRED[kind]}
    event = parse_event({"kind": kind, **minimal})
    assert event.kind == kind
    assert event.seq == 0


@pytest.mark.parametrize(
    "kind", [kind for kind in EVENT_KINDS if REQUIRED[kind]], ids=lambda kind: kind
)
def test_missing_required_field_is_rejected(kind):
    data = wire(kind)
    del data[sorted(REQUIRED[kind])[0]]
    with pytest.raises(ValidationError):
        parse_event(data)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_unknown_field_is_rejected(kind):
    with pytest.raises(ValidationError, match="surprise"):
        parse_event(wire(kind, surprise=1))


def test_unknown_field_is_rejected_on_construction():
    with pytest.raises(ValidationError):
        ThoughtEvent(text="hi", mood="curious")  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", ["nope", "", "THOUGHT", "agent_event"])
def test_unknown_kind_is_rejected(kind):
    with pytest.raises(ValidationError):
        parse_event({"kind": kind, "text": "hi"})


def test_missing_kind_is_rejected():
    with pytest.raises(ValidationError):
        parse_event({"text": "hi"})


def test_kind_cannot_be_overridden_on_a_model():
    with pytest.raises(ValidationError):
        ThoughtEvent(kind="final", text="hi")


def test_seq_must_not_be_negative():
    assert parse_event(wire("thought", seq=0)).seq == 0
    with pytest.raises(ValidationError, match="seq"):
        parse_event(wire("thought", seq=-1))
    with pytest.raises(ValidationError):
        ThoughtEvent(text="hi", seq=-5)


def test_default_timestamp_is_timezone_aware_utc_now():
    before = datetime.now(tz=UTC)
    event = ThoughtEvent(text="hi")
    after = datetime.now(tz=UTC)
    assert event.timestamp.tzinfo is not None
    assert event.timestamp.utcoffset() == timedelta(0)
    assert before <= event.timestamp <= after


def test_wire_timestamp_keeps_its_timezone():
    event = ThoughtEvent(text="hi")
    parsed = parse_event(event.to_wire())
    assert parsed.timestamp.tzinfo is not None
    assert parsed.timestamp == event.timestamp

    offset = datetime(2025, 3, 1, 14, 30, tzinfo=UTC).astimezone().isoformat()
    assert parse_event(wire("thought", timestamp=offset)).timestamp.tzinfo is not None


def test_defaults_of_optional_fields():
    final = FinalEvent()
    assert (final.status, final.result, final.trace_id) == ("completed", None, None)
    error = ErrorEvent(message="x")
    assert (error.code, error.status_code) == ("error", 500)
    started = parse_event({"kind": "tool_call_started", "tool": "t"})
    assert started.to_wire()["arguments"] == {}


def test_terminal_kinds():
    assert frozenset({"final", "error"}) == TERMINAL_KINDS
    assert set(EVENT_KINDS) >= TERMINAL_KINDS


def test_truncate_message_keeps_short_text():
    assert truncate_message("boom") == "boom"
    exact = "x" * MAX_ERROR_CHARS
    assert truncate_message(exact) == exact


def test_truncate_message_cuts_and_marks():
    cut = truncate_message("y" * (MAX_ERROR_CHARS + 1))
    assert len(cut) == MAX_ERROR_CHARS
    assert cut.endswith("…")
    assert cut[:-1] == "y" * (MAX_ERROR_CHARS - 1)


def test_truncate_message_custom_limit():
    assert truncate_message("abcdefghij", limit=5) == "abcd…"
    assert truncate_message("abcde", limit=5) == "abcde"
