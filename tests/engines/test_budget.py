"""BudgetPolicy over HTTP: every LLM call of a request is checked against the caps first.

Costs come from ``PRICING``: the mock model is priced at $1000 per million tokens
(a tenth of a cent a token) so that the MockBackend's token counts (about four
characters a token) give costs worth comparing. The estimate of a call is its
prompt's tokens plus its ``max_tokens``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agentic_django.harness import BudgetPolicy
from agentic_django.llm import LLMBackend, LLMMessage, LLMPrompt, ToolCall
from agentic_django.models import ExecutionTrace, LLMCall
from agentic_django.runtime import AgentWorkflow, LoopConfig
from agentic_django.services.budget import start_of_day

pytestmark = pytest.mark.django_db

PRICED = {"mock": {"input": 1000, "output": 1000}}


@pytest.fixture(autouse=True)
def priced_mock(settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "PRICING": PRICED}


def trace_of(response):
    return ExecutionTrace.objects.get(trace_id=response.json()["execution_trace_id"])


async def remember(note: str) -> str:
    """Remember a note."""
    return "ok"


def register_loop(site, policy, name="notes"):
    """A loop whose first call costs about $1.09 and whose calls are estimated at about $0.25."""

    @site.agent_endpoint(
        name, tools=[remember], loop_config=LoopConfig(max_tokens=100), policies=[policy]
    )
    async def notes(intent, context):
        return None


def queue_expensive_loop(mock_llm):
    # 4000 characters of arguments: about 1000 output tokens, so about $1.
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="remember", arguments={"note": "x" * 4000})
    )
    mock_llm.add_response("done")


def register_llm_handler(site, policy, name="summary", *, max_tokens=500, reply_chars=None):
    """A handler calling its injected LLM once; the call is estimated at about $0.5."""

    @site.agent_endpoint(name, policies=[policy])
    async def summary(intent, context, llm: LLMBackend):
        reply = await llm.generate(
            LLMPrompt(
                system="Summarise.",
                messages=[LLMMessage(role="user", content=intent.raw)],
                max_tokens=max_tokens,
            )
        )
        return {"summary": reply.content[:20]}


def spent(*, cost, user=None, endpoint="elsewhere", when=None, trace=None):
    return LLMCall.objects.create(
        endpoint_name=endpoint,
        alias="default",
        provider="mock",
        model="mock",
        purpose="handler",
        cost_usd=Decimal(str(cost)),
        user=user,
        trace=trace,
        created_at=when or timezone.now(),
    )


def assert_refused(response, scope, limit):
    assert response.status_code == 402, response.json()
    body = response.json()
    assert body["status"] == "budget_exceeded"
    assert body["details"]["code"] == "budget_exceeded"
    assert body["details"]["scope"] == scope
    assert body["details"]["limit_usd"] == limit
    assert body["details"]["estimated_usd"] > limit
    assert scope in body["error"]
    trace = trace_of(response)
    assert trace.status == "budget_exceeded"
    assert trace.error_type == "agentic_django.core.exceptions.BudgetExceeded"
    return trace


def test_a_request_under_budget_works_and_its_cost_is_recorded(site, post, mock_llm):
    register_loop(site, BudgetPolicy(max_per_request_usd=10))
    queue_expensive_loop(mock_llm)
    response = post("notes", {"intent": "remember this"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "done"
    trace = trace_of(response)
    calls = list(LLMCall.objects.filter(trace=trace))
    assert len(calls) == 2 and all(c.cost_usd > 0 for c in calls)
    assert trace.cost_usd == sum(c.cost_usd for c in calls)
    assert trace.cost_usd > 1


def test_per_request_the_call_that_would_pass_the_cap_is_refused_and_not_recorded(
    site, post, mock_llm
):
    register_loop(site, BudgetPolicy(max_per_request_usd=1.0))
    queue_expensive_loop(mock_llm)
    response = post("notes", {"intent": "remember this"})
    trace = assert_refused(response, "request", 1.0)
    # The first call was made and recorded; the second was never sent.
    assert mock_llm.call_count == 1
    [recorded] = LLMCall.objects.all()
    assert recorded.trace == trace and recorded.purpose == "loop" and recorded.error == ""
    assert trace.cost_usd == recorded.cost_usd
    # What ran before the refusal is still on the trace.
    assert [c["tool"] for c in trace.tool_calls] == ["remember"]


def test_per_request_spending_does_not_carry_over_to_the_next_request(site, post, mock_llm):
    register_loop(site, BudgetPolicy(max_per_request_usd=1.5))
    queue_expensive_loop(mock_llm)
    first = post("notes", {"intent": "remember this"})
    queue_expensive_loop(mock_llm)
    second = post("notes", {"intent": "remember this"})
    assert first.status_code == second.status_code == 200
    assert LLMCall.objects.count() == 4


def test_per_user_per_day_sums_todays_calls_of_that_user(site, post, mock_llm, user, client):
    register_llm_handler(site, BudgetPolicy(max_per_user_per_day_usd=5))
    client.force_login(user)
    spent(cost=4.7, user=user)  # on another endpoint: still this user's spending
    response = post("summary", {"intent": "summarise my week"})
    assert_refused(response, "user_per_day", 5.0)
    assert mock_llm.call_count == 0
    assert not LLMCall.objects.filter(trace__isnull=False).exists()


def test_per_user_per_day_ignores_yesterday_and_other_users(
    site, post, mock_llm, user, other_user, client
):
    register_llm_handler(site, BudgetPolicy(max_per_user_per_day_usd=5))
    client.force_login(user)
    spent(cost=100, user=user, when=start_of_day() - timedelta(seconds=1))
    spent(cost=100, user=other_user)
    spent(cost=100)  # anonymous
    mock_llm.add_response("fine")
    response = post("summary", {"intent": "summarise my week"})
    assert response.status_code == 200, response.json()
    # The other user is over their own cap.
    client.force_login(other_user)
    assert_refused(post("summary", {"intent": "summarise my week"}), "user_per_day", 5.0)


def test_per_endpoint_per_day_sums_every_caller(site, post, mock_llm, user, other_user, client):
    register_llm_handler(site, BudgetPolicy(max_per_endpoint_per_day_usd=3))
    spent(cost=1.3, user=user, endpoint="summary")
    spent(cost=1.3, user=other_user, endpoint="summary")
    spent(cost=50, endpoint="other_endpoint")
    spent(cost=50, endpoint="summary", when=start_of_day() - timedelta(hours=1))
    # 2.6 spent today on the endpoint; a call estimated at ~0.5 would pass 3.
    response = post("summary", {"intent": "summarise"})
    assert_refused(response, "endpoint_per_day", 3.0)
    client.force_login(user)
    assert_refused(post("summary", {"intent": "summarise"}), "endpoint_per_day", 3.0)
    assert mock_llm.call_count == 0


def test_per_session_sums_the_calls_of_earlier_turns(site, post, mock_llm):
    register_llm_handler(site, BudgetPolicy(max_per_session_usd=1.2))
    # About 1000 output tokens: the first turn spends about $1.
    mock_llm.add_response("y" * 4000)
    first = post("summary", {"intent": "summarise"})
    assert first.status_code == 200, first.json()
    session_id = first.json()["session_id"]
    assert trace_of(first).cost_usd > 1
    second = post("summary", {"intent": "summarise again", "session_id": session_id})
    trace = assert_refused(second, "session", 1.2)
    assert trace.session.session_id == session_id
    assert mock_llm.call_count == 1
    # A new session starts from zero.
    mock_llm.add_response("short")
    third = post("summary", {"intent": "summarise"})
    assert third.status_code == 200, third.json()
    assert third.json()["session_id"] != session_id


def test_per_session_counts_stored_calls_of_the_session(site, post, mock_llm):
    @site.agent_endpoint("free")
    async def free(intent, context):
        return "no llm"

    register_llm_handler(site, BudgetPolicy(max_per_session_usd=2))
    session_id = post("free", {"intent": "hi"}).json()["session_id"]
    spent(cost=1.8, endpoint="free", trace=ExecutionTrace.objects.get())
    response = post("summary", {"intent": "summarise", "session_id": session_id})
    assert_refused(response, "session", 2.0)


def test_intent_parsing_is_budgeted_too(site, post, mock_llm, settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "INTENT_PARSER_LLM": "default"}
    handled = []

    @site.agent_endpoint("plain", policies=[BudgetPolicy(max_per_request_usd=0.5)])
    async def plain(intent, context):
        handled.append(intent.raw)
        return "ok"

    # The parsing prompt asks for up to 1024 tokens: about $1 estimated.
    response = post("plain", {"intent": "show my orders"})
    trace = assert_refused(response, "request", 0.5)
    assert mock_llm.call_count == 0
    assert handled == []
    assert LLMCall.objects.count() == 0
    assert trace.intent_action == ""  # never parsed


def test_intent_parsing_under_budget_is_recorded(site, post, mock_llm, settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "INTENT_PARSER_LLM": "default"}

    @site.agent_endpoint("plain", policies=[BudgetPolicy(max_per_request_usd=5)])
    async def plain(intent, context):
        return intent.domain

    mock_llm.add_response('{"action": "read", "domain": "invoice", "confidence": 0.9}')
    response = post("plain", {"intent": "show my invoices"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "invoice"
    call = LLMCall.objects.get()
    assert call.purpose == "intent_parse" and call.cost_usd > 0


def test_a_handler_calling_its_injected_llm_is_budgeted(site, post, mock_llm):
    register_llm_handler(site, BudgetPolicy(max_per_request_usd=0.4))
    response = post("summary", {"intent": "summarise"})
    assert_refused(response, "request", 0.4)
    assert mock_llm.call_count == 0
    assert LLMCall.objects.count() == 0


def test_a_handler_calling_its_injected_llm_under_budget_is_recorded(site, post, mock_llm):
    register_llm_handler(site, BudgetPolicy(max_per_request_usd=0.6))
    mock_llm.add_response("a short summary")
    response = post("summary", {"intent": "summarise"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == {"summary": "a short summary"}
    call = LLMCall.objects.get()
    assert call.purpose == "handler" and call.cost_usd > 0


def test_the_policy_default_max_tokens_applies_when_the_prompt_sets_none(site, post, mock_llm):
    register_llm_handler(
        site, BudgetPolicy(max_per_request_usd=0.5, default_max_tokens=100), max_tokens=None
    )
    register_llm_handler(site, BudgetPolicy(max_per_request_usd=0.5), "strict", max_tokens=None)
    mock_llm.add_response("ok")
    assert post("summary", {"intent": "summarise"}).status_code == 200
    # 4096 tokens assumed by default: about $4, over the cap.
    assert_refused(post("strict", {"intent": "summarise"}), "request", 0.5)


def test_default_and_endpoint_budgets_both_apply(site, post, mock_llm, settings):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "DEFAULT_POLICIES": [BudgetPolicy(max_per_request_usd=0.3)],
    }
    register_llm_handler(site, BudgetPolicy(max_per_request_usd=100))
    assert_refused(post("summary", {"intent": "summarise"}), "request", 0.3)


def test_a_workflow_step_llm_call_refused_by_the_budget_is_a_402(site, post, mock_llm):
    from pydantic import BaseModel

    class State(BaseModel):
        summary: str = ""

    workflow: AgentWorkflow[State] = AgentWorkflow("budgeted", State)

    @workflow.step("summarise", retries=2)
    async def summarise(state: State, ctx) -> None:
        reply = await ctx.llm.generate(LLMPrompt(system="Summarise.", max_tokens=1000))
        state.summary = reply.content

    @site.agent_endpoint(
        "budgeted", workflow=workflow, policies=[BudgetPolicy(max_per_request_usd=0.5)]
    )
    async def budgeted(intent, context):
        return None

    response = post("budgeted", {"intent": "summarise"})
    trace = assert_refused(response, "request", 0.5)
    assert mock_llm.call_count == 0
    # Refused once, not retried.
    events = trace.harness_report["workflow"]["events"]
    assert [e["kind"] for e in events] == ["workflow_step_start"]


def test_code_generation_is_budgeted(site, post, mock_llm):
    @site.agent_endpoint("totals", codegen=True, policies=[BudgetPolicy(max_per_request_usd=1.0)])
    async def totals(intent, context):
        return [1, 2, 3]

    # The code generator asks for up to 2048 tokens: about $2 estimated.
    assert_refused(post("totals", {"intent": "sum the numbers"}), "request", 1.0)
    assert mock_llm.call_count == 0
