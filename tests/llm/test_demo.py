"""DemoBackend: every engine answered without a key, through the real pipeline and sandbox."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from pydantic import BaseModel

from agentic_django import Intent
from agentic_django.llm import DemoBackend, LLMBackend, LLMMessage, LLMPrompt
from agentic_django.models import ExecutionTrace
from agentic_django.runtime import AgentWorkflow, WorkflowContext, tool

pytestmark = pytest.mark.django_db

DEMO = {
    "INTENT_PARSER_LLM": "default",
    "LLM_BACKENDS": {"default": {"BACKEND": "agentic_django.llm.DemoBackend"}},
}
LOOKUPS: list[int] = []


@tool
def look_up_order(order_id: int) -> dict:
    """Look an order up by its number."""
    LOOKUPS.append(order_id)
    return {"order_id": order_id, "status": "shipped"}


@tool
def list_products() -> list[str]:
    """The product catalogue."""
    return ["lamp", "chair"]


@pytest.fixture(autouse=True)
def _logged_in(client, user):
    LOOKUPS.clear()
    client.force_login(user)


def post(client, name, intent):
    response = client.post(
        f"/agents/{name}/", json.dumps({"intent": intent}), content_type="application/json"
    )
    return response.status_code, response.json()


@override_settings(AGENTIC_DJANGO=DEMO)
def test_it_writes_a_program_the_sandbox_runs(client, site):
    @site.agent_endpoint("counts", codegen=True, code_cache=False)
    async def counts(intent, context):
        return {"orders": [{"id": 1}, {"id": 2}], "customers": [{"id": 9}]}

    status, body = post(client, "counts", "how many orders and customers?")
    assert status == 200, body
    assert body["result"] == {"orders": 2, "customers": 1}
    trace = ExecutionTrace.objects.get(trace_id=body["execution_trace_id"])
    assert "len(value)" in trace.generated_code
    # The intent was classified by the demo model, not by the keyword fallback alone.
    assert trace.llm_calls.filter(purpose="intent_parse").exists()


@override_settings(AGENTIC_DJANGO=DEMO)
def test_it_calls_the_closest_tool_then_answers_from_its_result(client, site):
    @site.agent_endpoint("support", tools=[list_products, look_up_order])
    async def support(intent, context):
        return None

    status, body = post(client, "support", "look up order 42")
    assert status == 200, body
    assert LOOKUPS == [42]
    assert body["result"].startswith("Here is what the tool found:")
    assert "shipped" in body["result"]


class Refund(BaseModel):
    order_id: int = 0
    reason: str = "unspecified"
    summary: str = ""


@override_settings(AGENTIC_DJANGO=DEMO)
def test_it_answers_typed_intents_and_workflow_steps(client, site):
    flow = AgentWorkflow("refund", Refund, start="summarize")

    @flow.step("summarize")
    async def summarize(state: Refund, ctx: WorkflowContext):
        prompt = LLMPrompt(system="Summarise.", messages=[LLMMessage("user", "refund 7")])
        state.summary = (await ctx.llm.generate(prompt)).content
        return None

    @site.agent_endpoint("refund", workflow=flow)
    async def refund(intent: Intent[Refund]) -> Refund:
        return intent.params

    status, body = post(client, "refund", "refund order 7")
    assert status == 200, body
    assert body["result"]["order_id"] == 7
    assert body["result"]["summary"] == "(demo model) You asked: refund 7"


async def test_it_needs_no_key_and_no_network():
    backend = DemoBackend()
    assert isinstance(backend, LLMBackend)
    reply = await backend.generate(LLMPrompt(system="", messages=[LLMMessage("user", "hi")]))
    assert reply.content == "(demo model) You asked: hi"
