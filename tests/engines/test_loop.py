"""tools= endpoints over HTTP: the agentic loop, its tool calls, policies and approval pauses."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from rest_framework.permissions import AllowAny

from agentic_django.harness import DataPolicy, PIIPolicy
from agentic_django.llm import LLMBackend, MockBackend, ToolCall
from agentic_django.models import ExecutionTrace, LLMCall, SessionTurn
from agentic_django.runtime import (
    LoopCheckpoint,
    LoopConfig,
    ToolContext,
    resume_agentic_loop,
    tool,
)
from agentic_django.runtime.loop import STOP_FINAL_ANSWER, STOP_MAX_ITERATIONS

pytestmark = pytest.mark.django_db

ORDERS = {7: {"id": 7, "status": "shipped", "total": 42.0}}
CALLS: list[tuple[str, dict]] = []


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def lookup_order(order_id: int) -> dict:
    """Look up one order by its id."""
    CALLS.append(("lookup_order", {"order_id": order_id}))
    try:
        return ORDERS[order_id]
    except KeyError:
        raise LookupError(f"no order {order_id}") from None


async def run_query(query: str) -> list:
    """Run a read-only SQL query on the reporting database."""
    CALLS.append(("run_query", {"query": query}))
    return [{"n": 1}]


async def send_email(to: str, body: str) -> str:
    """Send an email."""
    CALLS.append(("send_email", {"to": to, "body": body}))
    return "sent"


@tool(requires_approval=True)
async def refund_order(order_id: int, amount: float) -> dict:
    """Refund part of an order."""
    CALLS.append(("refund_order", {"order_id": order_id, "amount": amount}))
    return {"refunded": amount, "order_id": order_id}


@tool
async def whoami(ctx: ToolContext) -> dict:
    """Who is asking."""
    user = ctx.user
    return {
        "username": user.get_username() if user is not None else None,
        "authenticated": bool(getattr(user, "is_authenticated", False)),
        "user_id": ctx.user_id,
        "endpoint": ctx.endpoint,
        "trace_id": ctx.trace_id,
        "intent": ctx.extra["intent"].raw,
    }


def register(site, name="support", *, instructions=None, **options):
    options.setdefault("tools", [lookup_order])

    @site.agent_endpoint(name, description="Answers order questions.", **options)
    async def support(intent, context):
        return instructions

    return site.get(name)


def call(id, name, **arguments):
    return ToolCall(id=id, name=name, arguments=arguments)


def trace_of(response):
    return ExecutionTrace.objects.get(trace_id=response.json()["execution_trace_id"])


def test_the_final_answer_is_the_result_and_tool_results_are_fed_back(site, post, mock_llm):
    register(site)
    mock_llm.add_tool_call_response(call("c1", "lookup_order", order_id=7))
    mock_llm.add_response("Order 7 has shipped.")
    response = post("support", {"intent": "where is my order 7?"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["result"] == "Order 7 has shipped."
    assert body["confidence"] == 1.0
    assert CALLS == [("lookup_order", {"order_id": 7})]

    first, second = mock_llm.prompts
    # The model saw the tools and the request.
    assert [t["name"] for t in first.tools] == ["lookup_order"]
    assert first.messages[-1].role == "user"
    assert first.messages[-1].content == "where is my order 7?"
    # Its call and the tool's JSON result came back on the next turn.
    assistant, result = second.messages[-2:]
    assert assistant.role == "assistant"
    assert [(c.id, c.name, c.arguments) for c in assistant.tool_calls] == [
        ("c1", "lookup_order", {"order_id": 7})
    ]
    assert result.role == "tool"
    assert result.tool_call_id == "c1" and result.name == "lookup_order"
    assert result.is_error is False
    assert json.loads(result.content) == ORDERS[7]

    trace = trace_of(response)
    assert trace.status == "completed"
    assert trace.result == "Order 7 has shipped."
    assert trace.harness_report["engine"] == "loop"
    assert trace.harness_report["loop"] == {
        "iterations": 2,
        "stop_reason": STOP_FINAL_ANSWER,
        "max_iterations": LoopConfig().max_iterations,
    }


def test_every_tool_call_is_recorded_on_the_trace(site, post, mock_llm):
    register(site, tools=[lookup_order, run_query])
    mock_llm.add_tool_call_response(
        [call("c1", "lookup_order", order_id=7), call("c2", "run_query", query="select 1")]
    )
    mock_llm.add_tool_call_response(call("c3", "lookup_order", order_id=7))
    mock_llm.add_response("done")
    response = post("support", {"intent": "check order 7"})
    assert response.status_code == 200, response.json()
    calls = trace_of(response).tool_calls
    assert [(c["iteration"], c["call_id"], c["tool"], c["arguments"]) for c in calls] == [
        (1, "c1", "lookup_order", {"order_id": 7}),
        (1, "c2", "run_query", {"query": "select 1"}),
        (2, "c3", "lookup_order", {"order_id": 7}),
    ]
    for recorded in calls:
        assert recorded["error"] is None
        assert isinstance(recorded["duration_ms"], float) and recorded["duration_ms"] >= 0
    assert json.loads(calls[0]["result_summary"]) == ORDERS[7]
    assert json.loads(calls[1]["result_summary"]) == [{"n": 1}]


def test_a_long_tool_result_is_summarised_on_the_trace(site, post, mock_llm):
    async def big_report() -> str:
        """A very long report."""
        return "x" * 5000

    register(site, tools=[big_report])
    mock_llm.add_tool_call_response(call("c1", "big_report"))
    mock_llm.add_response("done")
    response = post("support", {"intent": "get the report"})
    [recorded] = trace_of(response).tool_calls
    assert len(recorded["result_summary"]) == 200
    assert recorded["result_summary"].endswith("…")
    # The model still got the whole result (under max_result_chars).
    assert json.loads(mock_llm.prompts[1].messages[-1].content) == "x" * 5000


def test_unknown_tools_and_bad_arguments_are_reported_to_the_model(site, post, mock_llm):
    register(site)
    mock_llm.add_tool_call_response(
        [
            call("c1", "delete_everything"),
            call("c2", "lookup_order", order_id="seven"),
            ToolCall(id="c3", name="lookup_order", parse_error="arguments are not valid JSON"),
            call("c4", "lookup_order", order_id=99),
        ]
    )
    mock_llm.add_response("Sorry, I could not find it.")
    response = post("support", {"intent": "where is my order?"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "Sorry, I could not find it."
    assert CALLS == [("lookup_order", {"order_id": 99})]

    results = [m for m in mock_llm.prompts[1].messages if m.role == "tool"]
    assert [m.tool_call_id for m in results] == ["c1", "c2", "c3", "c4"]
    assert all(m.is_error for m in results)
    errors = [json.loads(m.content)["error"] for m in results]
    assert "Unknown tool 'delete_everything'" in errors[0]
    assert "lookup_order" in errors[0]  # the model is told which tools exist
    assert "Invalid arguments for tool 'lookup_order'" in errors[1]
    assert "order_id" in errors[1]
    assert "Malformed arguments" in errors[2] and "not valid JSON" in errors[2]
    assert "LookupError" in errors[3] and "no order 99" in errors[3]

    recorded = trace_of(response).tool_calls
    assert [c["call_id"] for c in recorded] == ["c1", "c2", "c3", "c4"]
    assert [c["error"] for c in recorded] == errors


def test_the_handler_string_becomes_part_of_the_system_prompt(site, post, mock_llm):
    register(site, instructions="  Always answer in French.  ")
    mock_llm.add_response("Bonjour")
    response = post("support", {"intent": "hello"})
    assert response.status_code == 200, response.json()
    [prompt] = mock_llm.prompts
    assert '"support" agent' in prompt.system
    assert "Answers order questions." in prompt.system
    assert prompt.system.endswith("\n\nAlways answer in French.")


def test_a_handler_returning_none_adds_nothing_to_the_system_prompt(site, post, mock_llm):
    register(site, name="plain")
    register(site, name="instructed", instructions="Be brief.")
    mock_llm.add_response("one")
    mock_llm.add_response("two")
    post("plain", {"intent": "hello"})
    post("instructed", {"intent": "hello"})
    plain, instructed = mock_llm.prompts
    assert "Be brief." not in plain.system
    assert instructed.system.replace('"instructed"', '"plain"') == plain.system + "\n\nBe brief."


def test_the_handler_gets_dependencies_like_any_handler(site, post, mock_llm, user, client):
    @site.agent_endpoint("personal", tools=[lookup_order])
    def personal(intent, context):
        return f"The user is {context.user.get_username()}; the request was {intent.raw!r}."

    client.force_login(user)
    mock_llm.add_response("ok")
    response = post("personal", {"intent": "hi there"})
    assert response.status_code == 200, response.json()
    assert "The user is alice; the request was 'hi there'." in mock_llm.prompts[0].system


def test_max_iterations_stops_the_loop_with_the_reason_on_the_trace(site, post, mock_llm):
    register(site, loop_config=LoopConfig(max_iterations=2))
    for index in range(3):
        mock_llm.add_tool_call_response(call(f"c{index}", "lookup_order", order_id=7))
    response = post("support", {"intent": "where is order 7"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["result"] == "Stopped after 2 iterations without a final answer."
    assert body["confidence"] == 0.5
    assert mock_llm.call_count == 2
    trace = trace_of(response)
    assert trace.harness_report["loop"] == {
        "iterations": 2,
        "stop_reason": STOP_MAX_ITERATIONS,
        "max_iterations": 2,
    }
    assert [c["call_id"] for c in trace.tool_calls] == ["c0", "c1"]
    assert LLMCall.objects.filter(trace=trace).count() == 2


def test_loop_config_max_tokens_reaches_every_prompt(site, post, mock_llm):
    register(site, loop_config=LoopConfig(max_tokens=321))
    mock_llm.add_tool_call_response(call("c1", "lookup_order", order_id=7))
    mock_llm.add_response("done")
    post("support", {"intent": "order 7"})
    assert [p.max_tokens for p in mock_llm.prompts] == [321, 321]


def test_a_data_policy_denying_a_tool_call_is_403_and_the_tool_never_runs(site, post, mock_llm):
    register(site, tools=[run_query], policies=[DataPolicy(readable_tables=["orders"])])
    mock_llm.add_tool_call_response(call("c1", "run_query", query="SELECT * FROM auth_user"))
    mock_llm.add_response("never used")
    response = post("support", {"intent": "list the users"})
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "policy_denied"
    assert body["details"]["policy"] == "DataPolicy"
    assert any("auth_user" in v for v in body["details"]["violations"])
    assert CALLS == []
    assert mock_llm.call_count == 1

    trace = trace_of(response)
    assert trace.status == "policy_denied"
    assert trace.error_type == "agentic_django.core.exceptions.PolicyViolation"
    evaluation = trace.policy_evaluations[-1]
    assert evaluation["stage"] == "tool_call"
    [result] = evaluation["results"]
    assert result["policy_name"] == "DataPolicy" and result["allowed"] is False
    assert "reading table 'auth_user' is not allowed" in result["violations"]
    # The call that was made is still recorded.
    assert LLMCall.objects.filter(trace=trace).count() == 1


def test_allowed_tool_calls_leave_their_evaluation_on_the_trace(site, post, mock_llm):
    register(site, tools=[run_query], policies=[DataPolicy(readable_tables=["orders"])])
    mock_llm.add_tool_call_response(call("c1", "run_query", query="SELECT id FROM orders"))
    mock_llm.add_response("one order")
    response = post("support", {"intent": "count orders"})
    assert response.status_code == 200, response.json()
    evaluations = trace_of(response).policy_evaluations
    tool_stage = [e for e in evaluations if e["stage"] == "tool_call"]
    assert tool_stage == [
        {
            "stage": "tool_call",
            "results": [
                {
                    "policy_name": "DataPolicy",
                    "allowed": True,
                    "violations": [],
                    # Advisory only: the query has no LIMIT.
                    "warnings": ["SELECT without LIMIT may read an unbounded number of rows"],
                }
            ],
        }
    ]


def test_pii_in_tool_arguments_is_blocked(site, post, mock_llm):
    register(site, tools=[send_email], policies=[PIIPolicy(mode="block")])
    mock_llm.add_tool_call_response(
        call("c1", "send_email", to="someone@example.com", body="hello")
    )
    response = post("support", {"intent": "send the newsletter"})
    assert response.status_code == 403
    assert response.json()["details"]["policy"] == "PIIPolicy"
    assert CALLS == []
    trace = trace_of(response)
    assert trace.status == "policy_denied"
    evaluation = trace.policy_evaluations[-1]
    assert evaluation["stage"] == "tool_call"
    assert evaluation["results"][0]["violations"] == ["personal data (email) in tool 'send_email'"]


def test_tool_calls_made_before_a_denial_stay_on_the_trace(site, post, mock_llm):
    register(site, tools=[lookup_order, run_query], policies=[DataPolicy()])
    mock_llm.add_tool_call_response(call("c1", "lookup_order", order_id=7))
    mock_llm.add_tool_call_response(call("c2", "run_query", query="DROP TABLE orders"))
    response = post("support", {"intent": "order 7 then clean up"})
    assert response.status_code == 403
    # lookup_order ran (it may have had effects): the audit record must show it.
    assert CALLS == [("lookup_order", {"order_id": 7})]
    trace = trace_of(response)
    assert [(c["call_id"], c["tool"]) for c in trace.tool_calls] == [("c1", "lookup_order")]


def test_a_tool_requiring_approval_pauses_with_a_resumable_checkpoint(site, post, mock_llm):
    endpoint = register(site, tools=[lookup_order, refund_order])
    mock_llm.add_tool_call_response(call("c1", "lookup_order", order_id=7))
    mock_llm.add_tool_call_response(call("c2", "refund_order", order_id=7, amount=5.0))
    response = post("support", {"intent": "refund 5 on order 7"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending_approval"
    assert "error" not in body  # a pause is not an error
    assert "refund_order" in body["approval_request"]["summary"]
    assert "result" not in body
    approval = body["approval_request"]
    assert set(approval) == {"id", "kind", "rule", "approvers", "expires_at", "url", "summary"}
    assert (approval["kind"], approval["rule"], approval["approvers"]) == (
        "tool_call",
        "default",
        [],
    )
    assert approval["url"] == f"/agents/approvals/{approval['id']}/"
    # The refund did not run; the lookup before it did.
    assert CALLS == [("lookup_order", {"order_id": 7})]

    trace = trace_of(response)
    assert trace.status == "pending_approval"
    assert trace.checkpoint["kind"] == "tool_call"
    checkpoint = LoopCheckpoint.from_json(trace.checkpoint["loop"])
    assert checkpoint.tool_call == call("c2", "refund_order", order_id=7, amount=5.0)
    assert checkpoint.iteration == 2
    assert checkpoint.system == mock_llm.prompts[0].system
    roles = [m.role for m in checkpoint.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert checkpoint.messages[0].content == "refund 5 on order 7"
    assert json.loads(checkpoint.messages[2].content) == ORDERS[7]
    assert [(c["call_id"], c["tool"]) for c in trace.tool_calls] == [("c1", "lookup_order")]
    assert SessionTurn.objects.filter(trace=trace).exists()

    # Once a person approves, the stored state resumes the conversation.
    resumed_llm = MockBackend(["Refunded 5.0 on order 7."])
    result = async_to_sync(resume_agentic_loop)(
        resumed_llm, endpoint.tools, trace.checkpoint["loop"], approved=True
    )
    assert result.final_text == "Refunded 5.0 on order 7."
    assert result.stop_reason == STOP_FINAL_ANSWER
    assert CALLS[-1] == ("refund_order", {"order_id": 7, "amount": 5.0})
    [resumed_prompt] = resumed_llm.prompts
    assert resumed_prompt.system == checkpoint.system
    assert json.loads(resumed_prompt.messages[-1].content) == {"refunded": 5.0, "order_id": 7}


def test_a_rejected_approval_tells_the_model(site, post, mock_llm):
    endpoint = register(site, tools=[refund_order])
    mock_llm.add_tool_call_response(call("c1", "refund_order", order_id=7, amount=500.0))
    response = post("support", {"intent": "refund everything"})
    assert response.status_code == 202
    stored = trace_of(response).checkpoint["loop"]
    resumed_llm = MockBackend(["I could not refund it."])
    result = async_to_sync(resume_agentic_loop)(
        resumed_llm, endpoint.tools, stored, approved=False, reason="too much"
    )
    assert result.final_text == "I could not refund it."
    assert CALLS == []
    refusal = json.loads(resumed_llm.prompts[0].messages[-1].content)["error"]
    assert "not approved" in refusal and "too much" in refusal


def test_every_loop_call_is_recorded_with_purpose_loop(site, post, mock_llm, user, client):
    register(site)
    client.force_login(user)
    mock_llm.add_tool_call_response(call("c1", "lookup_order", order_id=7))
    mock_llm.add_response("Order 7 has shipped.")
    response = post("support", {"intent": "where is my order 7?"})
    trace = trace_of(response)
    calls = list(LLMCall.objects.filter(trace=trace).order_by("pk"))
    assert [c.purpose for c in calls] == ["loop", "loop"]
    assert {(c.alias, c.provider, c.model, c.user_id) for c in calls} == {
        ("default", "mock", "mock", user.pk)
    }
    assert calls[0].finish_reason == "tool_calls" and calls[1].finish_reason == "stop"
    assert all(c.input_tokens > 0 for c in calls)
    assert trace.input_tokens == sum(c.input_tokens for c in calls)
    assert trace.output_tokens == sum(c.output_tokens for c in calls)


def test_a_tool_sees_the_requesting_user(site, post, mock_llm, user, client):
    register(site, tools=[whoami])
    client.force_login(user)
    mock_llm.add_tool_call_response(call("c1", "whoami"))
    mock_llm.add_response("You are alice.")
    response = post("support", {"intent": "who am I?"})
    assert response.status_code == 200, response.json()
    seen = json.loads(mock_llm.prompts[1].messages[-1].content)
    assert seen == {
        "username": "alice",
        "authenticated": True,
        "user_id": str(user.pk),
        "endpoint": "support",
        "trace_id": response.json()["execution_trace_id"],
        "intent": "who am I?",
    }
    # The context parameter is not part of the schema the model sees.
    assert mock_llm.prompts[0].tools[0]["parameters"].get("properties", {}) == {}


def test_an_anonymous_caller_reaches_tools_as_anonymous(site, post, mock_llm, client):
    client.logout()
    register(site, tools=[whoami], permission_classes=[AllowAny])  # public by explicit choice
    mock_llm.add_tool_call_response(call("c1", "whoami"))
    mock_llm.add_response("You are anonymous.")
    post("support", {"intent": "who am I?"})
    seen = json.loads(mock_llm.prompts[1].messages[-1].content)
    assert seen["authenticated"] is False and seen["user_id"] is None


def test_manual_autonomy_runs_the_handler_alone(site, post, mock_llm):
    @site.agent_endpoint("manual_tools", tools=[lookup_order], autonomy_level="manual")
    async def manual(intent, context):
        return {"handled_by": "handler"}

    response = post("manual_tools", {"intent": "where is order 7"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == {"handled_by": "handler"}
    assert mock_llm.call_count == 0
    trace = trace_of(response)
    assert "engine" not in trace.harness_report
    assert trace.tool_calls == []


def test_a_handler_that_injects_the_llm_on_a_tools_endpoint_is_recorded(site, post, mock_llm):
    from agentic_django.llm import LLMMessage, LLMPrompt

    @site.agent_endpoint("prepared", tools=[lookup_order])
    async def prepared(intent, context, llm: LLMBackend):
        reply = await llm.generate(
            LLMPrompt(system="summarise", messages=[LLMMessage(role="user", content="hi")])
        )
        return f"Context: {reply.content}"

    mock_llm.add_response("the customer is in a hurry")
    mock_llm.add_response("done")
    response = post("prepared", {"intent": "hello"})
    assert response.status_code == 200, response.json()
    assert mock_llm.prompts[1].system.endswith("Context: the customer is in a hurry")
    purposes = list(
        LLMCall.objects.filter(trace=trace_of(response))
        .order_by("pk")
        .values_list("purpose", flat=True)
    )
    assert purposes == ["handler", "loop"]
