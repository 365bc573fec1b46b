"""The Python entry point and the JSON route on every endpoint kind, streamed or not.

``agentic_django.process_intent(...)`` behaves as ``POST /agents/<name>/`` does: a
``streaming=`` endpoint runs as a stream to its end (or answers at once when it
asks a person), and a client that goes away does not stop (or crash) the run.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pydantic import BaseModel, Field

import agentic_django
from agentic_django import AgentResponse, AgentSite, AgentStream
from agentic_django.llm import MockBackend, ToolCall
from agentic_django.models import AgentRun, ExecutionTrace
from agentic_django.registry import NotRegistered
from agentic_django.runtime import AgentWorkflow
from agentic_django.services import runs
from agentic_django.services.stream_approvals import decide_stream
from agentic_django.testing import use_llm

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]

#: A hang guard only: every wait below normally ends well within it.
TIMEOUT = 20


@pytest.fixture(autouse=True)
async def _stop_runs():
    yield
    for run_id, task in list(runs._live.items()):
        runs.cancel_local(run_id)
        await asyncio.wait([task], timeout=TIMEOUT)


@pytest.fixture
def llm():
    with use_llm(MockBackend()) as backend:
        yield backend


def lookup_order(order_id: int) -> dict:
    """Look up one order by its id."""
    return {"id": order_id, "status": "shipped"}


class Counter(BaseModel):
    text: str = ""
    trail: list[str] = Field(default_factory=list)


def counting_workflow() -> AgentWorkflow[Counter]:
    workflow: AgentWorkflow[Counter] = AgentWorkflow("count", Counter)

    @workflow.step("first")
    async def first(state: Counter, ctx) -> str:
        state.trail.append("first")
        return "second"

    @workflow.step("second")
    async def second(state: Counter, ctx) -> None:
        state.trail.append("second")

    return workflow


def register(site, kind: str, streaming: str | None, llm: MockBackend) -> Any:
    """One endpoint of ``kind``; queues what its model says; returns the expected result."""
    options: dict[str, Any] = {"description": "Orders.", "streaming": streaming}
    if kind == "handler" and streaming:

        @site.agent_endpoint("ep", **options)
        async def streamed(intent, stream: AgentStream):
            # The handler gets its stream, never None, when called from Python too.
            await stream.emit_partial("working")
            return {"streamed": stream is not None}

        return {"streamed": True}
    if kind == "handler":

        @site.agent_endpoint("ep", **options)
        async def handler(intent):
            return {"streamed": False}

        return {"streamed": False}
    if kind == "codegen":

        @site.agent_endpoint("ep", codegen=True, **options)
        async def totals(intent):
            return {"orders": [{"total": 2.5}, {"total": 4.0}]}

        llm.add_structured_response(
            {
                "code": "result = sum(o['total'] for o in data['orders'])",
                "reasoning": "sum",
                "confidence": 1,
            }
        )
        return 6.5
    if kind == "tools":

        @site.agent_endpoint("ep", tools=[lookup_order], **options)
        async def support(intent):
            return None

        llm.add_tool_call_response(
            ToolCall(id="c1", name="lookup_order", arguments={"order_id": 7})
        )
        llm.add_response("Order 7 has shipped.")
        return "Order 7 has shipped."
    assert kind == "workflow"

    @site.agent_endpoint("ep", workflow=counting_workflow(), **options)
    async def count(intent):
        return Counter(text=intent.raw)

    return None


@pytest.mark.parametrize("streaming", [None, "sse"], ids=["plain", "streaming"])
@pytest.mark.parametrize("kind", ["handler", "codegen", "tools", "workflow"])
async def test_process_intent_answers_like_the_json_route(site, llm, user, kind, streaming):
    expected = register(site, kind, streaming, llm)
    response = await asyncio.wait_for(
        agentic_django.process_intent("how are my orders?", endpoint_name="ep", user=user),
        TIMEOUT,
    )
    assert isinstance(response, AgentResponse)
    assert response.status == "completed", response
    if kind == "workflow":
        assert response.result["trail"] == ["first", "second"]
    else:
        assert response.result == expected
    trace = await ExecutionTrace.objects.aget(trace_id=response.execution_trace_id)
    assert trace.status == "completed" and trace.user_id == user.pk
    runs_made = await AgentRun.objects.filter(endpoint_name="ep").acount()
    assert runs_made == (1 if streaming else 0)


async def test_endpoint_name_may_be_left_out_when_one_endpoint_exists(llm):
    site = AgentSite()
    register(site, "handler", None, llm)
    response = await site.process_intent("hello")
    assert response.result == {"streamed": False}

    @site.agent_endpoint("other", description="Another.")
    async def other(intent):
        return 1

    with pytest.raises(NotRegistered, match=r"endpoint_name is required.*\(ep, other\)"):
        await site.process_intent("hello")


@dataclass
class AuthUser:
    """The reference's authenticated-user shape."""

    user_id: str
    username: str
    roles: list[str]


async def test_auth_user_is_accepted_for_user(site, llm, user):
    register(site, "handler", None, llm)
    response = await agentic_django.agents.process_intent(
        "hello", endpoint_name="ep", auth_user=AuthUser(str(user.pk), "alice", [])
    )
    trace = await ExecutionTrace.objects.aget(trace_id=response.execution_trace_id)
    assert trace.user_id == user.pk
    same = await agentic_django.process_intent("hello", endpoint_name="ep", auth_user=user)
    assert same.status == "completed"


def register_asking(site) -> None:
    @site.agent_endpoint("refunds", description="Refunds.", streaming="sse")
    async def refunds(intent, stream: AgentStream):
        decision = await stream.request_approval("Refund 30 EUR?", timeout_seconds=600)
        return {"decision": decision}


async def finish(run_id: str, user) -> ExecutionTrace:
    """Approve the pending question of ``run_id`` and wait for the run to end."""
    run = await AgentRun.objects.aget(run_id=run_id)
    request = await run.approval_requests.aget()
    await sync_to_async(decide_stream)(request.request_id, user, "approve", run_id=run_id)
    await asyncio.wait_for(runs.wait_local(run_id), TIMEOUT)
    run = await AgentRun.objects.select_related("trace").aget(run_id=run_id)
    return run.trace


async def test_a_question_is_answered_at_once_from_python_and_the_run_waits(site, user):
    register_asking(site)
    response = await asyncio.wait_for(
        agentic_django.process_intent("refund order 7", endpoint_name="refunds", user=user),
        TIMEOUT,
    )
    assert response.status == "pending_approval"
    approval = response.approval_request
    assert approval["prompt"] == "Refund 30 EUR?" and approval["options"] == ["approve", "reject"]
    run_id = approval["run_id"]
    assert approval["resume_url"] == f"runs/{run_id}/resume/"
    trace = await finish(run_id, user)
    assert trace.status == "completed" and trace.result == {"decision": "approve"}


async def test_the_json_route_answers_202_when_the_stream_asks(site, user, async_client):
    register_asking(site)
    await async_client.aforce_login(user)
    response = await asyncio.wait_for(
        async_client.post(
            "/agents/refunds/", json.dumps({"intent": "refund"}), content_type="application/json"
        ),
        TIMEOUT,
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending_approval"
    assert body["approval_request"]["run_id"] == body["run_id"]
    assert body["approval_request"]["id"]
    trace = await finish(body["run_id"], user)
    assert trace.result == {"decision": "approve"}


async def test_a_client_going_away_leaves_the_run_to_finish(site, user, async_client):
    started, release = asyncio.Event(), asyncio.Event()

    @site.agent_endpoint("dawdle", description="Slow.", streaming="sse")
    async def slow(intent, stream: AgentStream):
        started.set()
        await release.wait()
        return {"done": True}

    await async_client.aforce_login(user)
    client = asyncio.create_task(
        async_client.post(
            "/agents/dawdle/", json.dumps({"intent": "go"}), content_type="application/json"
        )
    )
    await asyncio.wait_for(started.wait(), TIMEOUT)
    client.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client
    release.set()
    run = await AgentRun.objects.aget(endpoint_name="dawdle")
    await asyncio.wait_for(runs.wait_local(run.run_id), TIMEOUT)
    run = await AgentRun.objects.select_related("trace").aget(pk=run.pk)
    assert run.status == "completed"
    trace = run.trace
    assert trace.status == "completed" and trace.result == {"done": True}
