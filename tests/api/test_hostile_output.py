"""Hostile values in results never cost the audit trail, whatever transport asked.

A prompt-injected model can make a handler, a tool loop or generated code
produce values Python's ``json`` round-trips but nothing downstream accepts.
The client gets a JSON error with a code; the trace says what was wrong.
"""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError

from agentic_django.llm import ToolCall
from agentic_django.models import ExecutionTrace, LLMCall, SessionTurn

from ..engines.conftest import program_reply

pytestmark = pytest.mark.django_db


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE = {
    "nan": ({"price": float("nan")}, "non_finite_number"),
    "infinity": ({"price": float("-inf")}, "non_finite_number"),
    "surrogate": ({"reply": "caf\udc80"}, "invalid_text"),
    "nul": ({"reply": "a\x00b"}, "invalid_text"),
    "tuple_key": ({(1, 2): "a"}, "non_string_key"),
    "clashing_keys": ({1: "a", "1": "b"}, "non_string_key"),
    "deep": (nested(900), "too_deep"),
}


@pytest.fixture(autouse=True)
def signed_in(client, user):
    client.force_login(user)  # agent endpoints are authenticated by default


def post(client, name, body):
    return client.post(f"/agents/{name}/", json.dumps(body), content_type="application/json")


@pytest.fixture
def hostile(site):
    @site.agent_endpoint("hostile")
    async def handler(intent, context):
        return HOSTILE[intent.raw][0]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_handler_result_is_a_json_error_with_a_code_and_one_error_trace(
    client, hostile, case
):
    response = post(client, "hostile", {"intent": case})
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error"
    assert body["details"] == {"code": "unstorable_value", "problem": HOSTILE[case][1]}
    [trace] = ExecutionTrace.objects.all()
    assert trace.trace_id == body["execution_trace_id"]
    assert trace.status == "error"
    assert trace.result is None
    assert "at $" in trace.error
    assert SessionTurn.objects.get().trace == trace


def test_a_result_within_the_limits_still_passes(client, site, settings):
    @site.agent_endpoint("fine")
    async def handler(intent, context):
        return {1: nested(10), "text": "café ✓", "n": 1.5}

    response = post(client, "fine", {"intent": "x"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == {"1": nested(10), "text": "café ✓", "n": 1.5}
    assert ExecutionTrace.objects.get().result == response.json()["result"]


def test_a_hostile_model_reply_in_the_tool_loop_keeps_the_trace_and_the_llm_calls(
    client, site, mock_llm
):
    def price(amount: float) -> dict:
        """Price an amount."""
        return {"amount": amount}

    @site.agent_endpoint("loop", tools=[price])
    async def handler(intent, context):
        return None

    mock_llm.add_tool_call_response(ToolCall(id="c1", name="price", arguments={"amount": 1e999}))
    mock_llm.add_response("Here you go: \udc80")
    response = post(client, "loop", {"intent": "price it"})
    assert response.status_code == 500
    assert response.json()["details"]["problem"] == "invalid_text"
    [trace] = ExecutionTrace.objects.all()
    assert trace.status == "error"
    # The non-finite argument the model sent is kept, visibly, on the stored tool call.
    assert "inf" in json.dumps(trace.tool_calls)
    assert LLMCall.objects.filter(trace=trace).count() == 2


@pytest.mark.parametrize(
    ("code", "details"),
    [
        (
            'print("\\udc80")\nresult = "\\udc80"',
            {"code": "unstorable_value", "problem": "invalid_text"},
        ),
        # The sandbox's own result channel is strict JSON: it refuses NaN itself.
        ("result = float('nan')", {"code": "code_execution_error"}),
        (
            "result = []\nfor _ in range(900):\n    result = [result]",
            {"code": "unstorable_value", "problem": "too_deep"},
        ),
    ],
)
def test_hostile_generated_code_results_keep_the_trace_and_the_llm_call(
    client, site, mock_llm, code, details
):
    @site.agent_endpoint("totals", codegen=True)
    async def totals(intent, context):
        """Totals."""
        return {"orders": [1, 2]}

    mock_llm.add_structured_response(program_reply(code))
    response = post(client, "totals", {"intent": "sum the orders"})
    assert response.status_code == 500, response.content
    assert response.json()["details"] == details
    [trace] = ExecutionTrace.objects.all()
    assert trace.status == "error"
    assert LLMCall.objects.filter(trace=trace).count() == 1


def test_when_the_full_record_cannot_be_written_a_minimal_one_keeps_the_calls(
    client, site, mock_llm, monkeypatch
):
    @site.agent_endpoint("totals", codegen=True)
    async def totals(intent, context):
        """Totals."""
        return {"orders": [1, 2]}

    def broken(*args, **kwargs):
        raise DatabaseError("the turn table is gone")

    # The one fault injected: the session turn's write fails inside the full record.
    monkeypatch.setattr(SessionTurn.objects, "create", broken)
    mock_llm.add_structured_response(program_reply("result = 3"))
    response = post(client, "totals", {"intent": "sum the orders"})
    [trace] = ExecutionTrace.objects.all()
    assert trace.trace_id == response.json()["execution_trace_id"]
    assert trace.status == "error"
    assert "the turn table is gone" in trace.error
    assert trace.session is None
    assert LLMCall.objects.filter(trace=trace).count() == 1
    assert trace.input_tokens == LLMCall.objects.get().input_tokens


def test_a_hostile_argument_to_a_tool_awaiting_approval_is_stored_for_review(
    client, site, mock_llm
):
    from agentic_django.models import ApprovalRequest
    from agentic_django.runtime import tool

    @tool(requires_approval=True)
    async def refund(order_id: int, amount: float) -> dict:
        """Refund part of an order."""
        return {"refunded": amount}

    @site.agent_endpoint("refunds", tools=[refund])
    async def handler(intent, context):
        return None

    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="refund", arguments={"order_id": 7, "amount": float("nan")})
    )
    response = post(client, "refunds", {"intent": "refund order 7"})
    assert response.status_code == 202, response.content
    [request] = ApprovalRequest.objects.all()
    # The reviewer sees the value the model sent, as text; the trace is there too.
    assert "nan" in json.dumps(request.action)
    assert ExecutionTrace.objects.get().status == "pending_approval"
    assert LLMCall.objects.count() == 1
