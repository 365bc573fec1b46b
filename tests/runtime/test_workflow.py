from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agentic_django.core.exceptions import WorkflowError
from agentic_django.runtime.workflow import (
    STATUS_REJECTED,
    AgentWorkflow,
    Checkpoint,
    WorkflowPaused,
)


class Order(BaseModel):
    total: float = 0.0
    notes: list[str] = Field(default_factory=list)
    attempts: int = 0


def build() -> AgentWorkflow[Order]:
    flow: AgentWorkflow[Order] = AgentWorkflow("refund", Order)

    @flow.step("load")
    async def load(state: Order, context: Any) -> list[str]:
        state.total = 120.0
        return ["check_fraud", "check_stock"]

    @flow.step("check_fraud")
    async def check_fraud(state: Order, context: Any) -> str:
        await asyncio.sleep(0.01)
        state.notes.append("fraud ok")
        return "decide"

    @flow.step("check_stock")
    async def check_stock(state: Order, context: Any) -> str:
        state.notes.append("stock ok")
        return "decide"

    @flow.step("decide")
    async def decide(state: Order, context: Any) -> Checkpoint | str:
        if state.total > 100:
            return Checkpoint(then="pay", reason="large refund")
        return "pay"

    @flow.step("pay", retries=1)
    async def pay(state: Order, context: Any) -> None:
        state.attempts += 1
        if state.attempts == 1:
            raise ConnectionError("gateway flaked")
        state.notes.append(f"paid by {context}")

    return flow


async def test_parallel_branches_join_and_a_checkpoint_pauses_with_serialisable_state() -> None:
    events: list[str] = []
    with pytest.raises(WorkflowPaused) as info:
        await build().run(Order(), "bot", on_event=lambda kind, payload: events.append(kind))

    checkpoint = info.value.checkpoint
    assert checkpoint.pending == ["pay"]
    assert checkpoint.reason == "large refund"
    assert checkpoint.completed_steps[0] == "load"
    assert set(checkpoint.completed_steps[1:3]) == {"check_fraud", "check_stock"}
    assert checkpoint.completed_steps[3] == "decide"  # ran once although both branches led to it
    assert sorted(checkpoint.state["notes"]) == ["fraud ok", "stock ok"]
    assert events[-1] == "workflow_checkpoint"
    json.dumps(checkpoint.to_json())


async def test_resume_approved_continues_with_retries() -> None:
    flow = build()
    with pytest.raises(WorkflowPaused) as info:
        await flow.run(Order(), "bot")
    stored = json.loads(json.dumps(info.value.checkpoint.to_json()))

    result = await flow.resume(stored, approved=True, context="alice")

    assert result.steps_run[-1] == "pay"
    assert result.state.attempts == 2
    assert result.state.notes[-1] == "paid by alice"
    assert isinstance(result.state, Order)


async def test_resume_rejected_ends_without_running_pending_steps() -> None:
    flow = build()
    with pytest.raises(WorkflowPaused) as info:
        await flow.run(Order(), None)

    result = await flow.resume(info.value.checkpoint, approved=False)

    assert result.status == STATUS_REJECTED
    assert "pay" not in result.steps_run


async def test_a_step_requiring_approval_pauses_before_running() -> None:
    flow: AgentWorkflow[Order] = AgentWorkflow("ship", Order)
    ran: list[str] = []

    @flow.step("start")
    async def start(state: Order, context: Any) -> str:
        return "ship"

    @flow.step("ship", require_approval=True)
    async def ship(state: Order, context: Any) -> None:
        ran.append("ship")

    with pytest.raises(WorkflowPaused) as info:
        await flow.run(Order())
    assert ran == []
    assert info.value.checkpoint.pending == ["ship"]

    result = await flow.resume(info.value.checkpoint, approved=True)
    assert ran == ["ship"]
    assert result.steps_run == ["start", "ship"]


async def test_a_step_failing_beyond_its_retries_raises_workflow_error() -> None:
    flow: AgentWorkflow[Order] = AgentWorkflow("f", Order)
    calls: list[int] = []

    @flow.step("boom", retries=2)
    async def boom(state: Order, context: Any) -> None:
        calls.append(1)
        raise ValueError("nope")

    with pytest.raises(WorkflowError, match="after 3 attempt"):
        await flow.run(Order())
    assert len(calls) == 3


async def test_a_step_timeout_is_a_failure() -> None:
    flow: AgentWorkflow[Order] = AgentWorkflow("t", Order)

    @flow.step("slow", timeout_seconds=0.01)
    async def slow(state: Order, context: Any) -> None:
        await asyncio.sleep(5)

    with pytest.raises(WorkflowError, match="timed out"):
        await flow.run(Order())


async def test_unknown_next_step_and_bad_return_values_raise() -> None:
    flow: AgentWorkflow[Order] = AgentWorkflow("u", Order)

    @flow.step("a")
    async def a(state: Order, context: Any) -> str:
        return "missing"

    with pytest.raises(WorkflowError, match="no step 'missing'"):
        await flow.run(Order())

    other: AgentWorkflow[Order] = AgentWorkflow("v", Order)

    @other.step("a")
    async def bad(state: Order, context: Any) -> int:
        return 3

    with pytest.raises(WorkflowError, match="returned int"):
        await other.run(Order())


async def test_cycles_are_stopped_by_max_steps() -> None:
    flow: AgentWorkflow[Order] = AgentWorkflow("loop", Order, max_steps=5)

    @flow.step("again")
    async def again(state: Order, context: Any) -> str:
        return "again"

    with pytest.raises(WorkflowError, match="exceeded 5 steps"):
        await flow.run(Order())


def test_step_registration_rejects_duplicates_and_sync_functions() -> None:
    flow: AgentWorkflow[Order] = AgentWorkflow("d", Order)

    @flow.step("a")
    async def a(state: Order, context: Any) -> None:
        return None

    with pytest.raises(ValueError, match="already has a step 'a'"):
        flow.step("a")(a)
    with pytest.raises(TypeError, match="async"):
        flow.step("b")(lambda state, context: None)  # type: ignore[arg-type,return-value]
