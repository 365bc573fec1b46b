from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agentic_django.core.exceptions import ApprovalRequired, BudgetExceeded, PolicyViolation
from agentic_django.harness.policies.evaluator import PolicyEvaluator
from agentic_django.harness.policies.pii import PIIPolicy
from agentic_django.llm.base import LLMCallRecord, LLMMessage, LLMPrompt, ToolCall
from agentic_django.llm.mock import MockBackend
from agentic_django.runtime.approval import LoopCheckpoint, ToolApprovalRequired
from agentic_django.runtime.loop import (
    STOP_MAX_ITERATIONS,
    LoopConfig,
    resume_agentic_loop,
    run_agentic_loop,
)
from agentic_django.runtime.messages import deserialize_messages, serialize_messages
from agentic_django.runtime.tools import ToolContext, ToolRegistry, tool

PROMPT = LLMPrompt(system="You help.", messages=[LLMMessage(role="user", content="Orders?")])


@tool
async def count_orders(status: str) -> dict[str, Any]:
    """Count orders with a status."""
    return {"status": status, "count": {"paid": 3, "open": 2}.get(status, 0)}


@tool
async def broken() -> None:
    raise RuntimeError("disk on fire")


@tool(requires_approval=True)
async def refund(order_id: int, context: ToolContext) -> str:
    return f"refunded {order_id} for {context.user_id}"


@tool
async def slow() -> str:
    await asyncio.sleep(5)
    return "late"


def registry() -> ToolRegistry:
    return ToolRegistry([count_orders, broken, refund, slow])


def tool_results(messages: list[LLMMessage]) -> list[dict[str, Any]]:
    return [json.loads(m.content) for m in messages if m.role == "tool"]


async def test_multi_step_conversation_reaches_a_final_answer() -> None:
    llm = MockBackend()
    llm.add_tool_call_response(ToolCall(id="c1", name="count_orders", arguments={"status": "paid"}))
    llm.add_tool_call_response(ToolCall(id="c2", name="count_orders", arguments={"status": "open"}))
    llm.add_response("3 paid, 2 open.")
    records: list[LLMCallRecord] = []
    events: list[str] = []

    result = await run_agentic_loop(
        llm,
        registry(),
        PROMPT,
        observer=records.append,
        on_event=lambda kind, payload: events.append(kind),
    )

    assert result.final_text == "3 paid, 2 open."
    assert result.iterations == 3
    assert result.stop_reason == "final_answer"
    assert [r.tool for r in result.tool_calls] == ["count_orders", "count_orders"]
    assert result.tool_calls[1].iteration == 2
    assert result.tool_calls[0].error is None
    assert '"count": 3' in result.tool_calls[0].result_summary
    assert tool_results(result.messages) == [
        {"status": "paid", "count": 3},
        {"status": "open", "count": 2},
    ]
    tool_message = next(m for m in result.messages if m.role == "tool")
    assert tool_message.tool_call_id == "c1"
    assert [r.purpose for r in records] == ["loop", "loop", "loop"]
    assert llm.prompts[0].tools is not None
    assert {t["name"] for t in llm.prompts[0].tools} == set(registry().names)
    # The second prompt already carries the first call and its result.
    assert [m.role for m in llm.prompts[1].messages] == ["user", "assistant", "tool"]
    assert events == ["tool_call_started", "tool_call_completed"] * 2


async def test_unknown_tool_failing_tool_and_malformed_arguments_are_reported_to_the_model() -> (
    None
):
    llm = MockBackend()
    llm.add_tool_call_response(
        [
            ToolCall(id="a", name="delete_everything"),
            ToolCall(id="b", name="broken"),
            ToolCall(id="c", name="count_orders", parse_error="arguments are not valid JSON"),
            ToolCall(id="d", name="count_orders", arguments={"status": 5, "x": 1}),
        ]
    )
    llm.add_response("Sorry.")

    result = await run_agentic_loop(llm, registry(), PROMPT)

    assert result.final_text == "Sorry."
    errors = [r["error"] for r in tool_results(result.messages)]
    assert "Unknown tool 'delete_everything'" in errors[0]
    assert "RuntimeError: disk on fire" in errors[1]
    assert "Malformed arguments" in errors[2]
    assert "status: Input should be a valid string" in errors[3]
    assert all(r.error for r in result.tool_calls)
    assert all(m.is_error for m in result.messages if m.role == "tool")


async def test_tool_timeout_is_reported_to_the_model() -> None:
    llm = MockBackend()
    llm.add_tool_call_response(ToolCall(id="s", name="slow"))
    llm.add_response("done")

    result = await run_agentic_loop(
        llm, registry(), PROMPT, config=LoopConfig(tool_timeout_seconds=0.01)
    )

    assert "timed out" in tool_results(result.messages)[0]["error"]


async def test_calls_beyond_the_per_turn_limit_are_skipped_but_answered() -> None:
    llm = MockBackend()
    llm.add_tool_call_response(
        [ToolCall(id=str(i), name="count_orders", arguments={"status": "paid"}) for i in range(3)]
    )
    llm.add_response("ok")

    result = await run_agentic_loop(
        llm, registry(), PROMPT, config=LoopConfig(max_tool_calls_per_turn=2)
    )

    results = tool_results(result.messages)
    assert len(results) == 3
    assert results[0]["count"] == 3
    assert "at most 2 tool calls" in results[2]["error"]


async def test_policy_denial_stops_the_loop() -> None:
    llm = MockBackend()
    llm.add_tool_call_response(
        ToolCall(id="p", name="count_orders", arguments={"status": "bob@example.com"})
    )
    policies = PolicyEvaluator([PIIPolicy(mode="block")])

    with pytest.raises(PolicyViolation):
        await run_agentic_loop(llm, registry(), PROMPT, policies=policies)
    assert llm.call_count == 1


async def test_max_iterations_returns_with_a_clear_stop_reason() -> None:
    llm = MockBackend()
    for i in range(5):
        llm.add_tool_call_response(
            ToolCall(id=f"i{i}", name="count_orders", arguments={"status": "paid"})
        )

    result = await run_agentic_loop(llm, registry(), PROMPT, config=LoopConfig(max_iterations=2))

    assert result.stop_reason == STOP_MAX_ITERATIONS
    assert result.iterations == 2
    assert "2 iterations" in result.final_text
    assert llm.call_count == 2


async def test_budget_check_runs_before_every_llm_call() -> None:
    llm = MockBackend()
    llm.add_tool_call_response(ToolCall(id="c1", name="count_orders", arguments={"status": "paid"}))
    llm.add_response("done")
    checked: list[tuple[int, int | None]] = []

    async def budget_check(prompt: LLMPrompt, max_tokens: int | None) -> None:
        assert llm.call_count == len(checked)  # called before the LLM sees the prompt
        checked.append((len(prompt.messages), max_tokens))

    await run_agentic_loop(
        llm, registry(), PROMPT, config=LoopConfig(max_tokens=512), budget_check=budget_check
    )

    assert checked == [(1, 512), (3, 512)]


async def test_budget_exceeded_propagates_without_calling_the_llm_again() -> None:
    llm = MockBackend()
    llm.add_tool_call_response(ToolCall(id="c1", name="count_orders", arguments={"status": "paid"}))
    llm.add_response("done")

    async def budget_check(prompt: LLMPrompt, max_tokens: int | None) -> None:
        if llm.call_count >= 1:
            raise BudgetExceeded(scope="request", limit_usd=0.01)

    with pytest.raises(BudgetExceeded):
        await run_agentic_loop(llm, registry(), PROMPT, budget_check=budget_check)
    assert llm.call_count == 1


def paused_loop_llm() -> MockBackend:
    llm = MockBackend()
    llm.add_tool_call_response(
        [
            ToolCall(id="r1", name="refund", arguments={"order_id": 7}),
            ToolCall(id="c1", name="count_orders", arguments={"status": "paid"}),
        ]
    )
    return llm


async def pause(llm: MockBackend) -> ToolApprovalRequired:
    with pytest.raises(ToolApprovalRequired) as info:
        await run_agentic_loop(llm, registry(), PROMPT)
    return info.value


async def test_a_tool_requiring_approval_pauses_the_loop_before_running() -> None:
    paused = await pause(paused_loop_llm())

    assert isinstance(paused, ApprovalRequired)
    assert paused.tool_name == "refund"
    assert paused.arguments == {"order_id": 7}
    assert paused.tool_call_id == "r1"
    assert [m.role for m in paused.messages] == ["user", "assistant"]
    json.dumps(paused.checkpoint.to_json())  # storable as JSON


async def test_resume_approved_runs_the_call_and_the_rest_of_the_turn() -> None:
    llm = paused_loop_llm()
    stored = json.loads(json.dumps((await pause(llm)).checkpoint.to_json()))
    llm.add_response("Refunded.")

    result = await resume_agentic_loop(
        llm, registry(), stored, approved=True, context=ToolContext(user_id="u1")
    )

    assert result.final_text == "Refunded."
    assert tool_results(result.messages) == ["refunded 7 for u1", {"status": "paid", "count": 3}]
    assert [r.tool for r in result.tool_calls] == ["refund", "count_orders"]
    assert result.iterations == 2


async def test_resume_rejected_feeds_the_reason_back_to_the_model() -> None:
    llm = paused_loop_llm()
    checkpoint = (await pause(llm)).checkpoint
    llm.add_response("I could not refund.")

    result = await resume_agentic_loop(
        llm, registry(), checkpoint, approved=False, reason="amount too large"
    )

    first = tool_results(result.messages)[0]
    assert "not approved: amount too large" in first["error"]
    assert result.final_text == "I could not refund."
    assert result.tool_calls[0].error is not None


async def test_approve_tool_callback_can_decide_without_pausing() -> None:
    llm = paused_loop_llm()
    llm.add_response("done")

    result = await run_agentic_loop(
        llm, registry(), PROMPT, approve_tool=lambda tool, call: tool.name == "refund"
    )

    assert tool_results(result.messages)[0] == "refunded 7 for None"


def test_messages_round_trip_through_json() -> None:
    messages = [
        LLMMessage(role="user", content="hi"),
        LLMMessage(
            role="assistant",
            tool_calls=[ToolCall(id="1", name="t", arguments={"a": [1]}, parse_error=None)],
        ),
        LLMMessage(
            role="tool", content='{"error": "x"}', tool_call_id="1", name="t", is_error=True
        ),
        LLMMessage(role="assistant", tool_calls=[ToolCall(id="2", name="t", parse_error="bad")]),
    ]
    data = json.loads(json.dumps(serialize_messages(messages)))
    assert deserialize_messages(data) == messages


def test_checkpoint_round_trips_through_json() -> None:
    checkpoint = LoopCheckpoint(
        system="s",
        messages=[LLMMessage(role="user", content="u")],
        tool_call=ToolCall(id="x", name="refund", arguments={"order_id": 1}),
        iteration=3,
        temperature=0.0,
    )
    assert LoopCheckpoint.from_json(json.loads(json.dumps(checkpoint.to_json()))) == checkpoint
