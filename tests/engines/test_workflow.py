"""workflow= endpoints over HTTP: steps, branches, retries, LLM calls and checkpoints."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from pydantic import BaseModel, Field

from agentic_django import PolicyViolation
from agentic_django.llm import LLMMessage, LLMPrompt
from agentic_django.models import ExecutionTrace, LLMCall
from agentic_django.runtime import AgentWorkflow, Checkpoint, WorkflowCheckpoint

pytestmark = pytest.mark.django_db


class Ticket(BaseModel):
    text: str = ""
    category: str | None = None
    customer: str | None = None
    orders: list[int] = Field(default_factory=list)
    summary: str | None = None
    attempts: int = 0
    refunded: bool = False
    trail: list[str] = Field(default_factory=list)


def build_triage(*, pause_before_refund: bool = False) -> tuple[AgentWorkflow, dict]:
    """A workflow: classify → (load_customer ∥ load_orders) → enrich (retried) → summarize."""
    workflow: AgentWorkflow[Ticket] = AgentWorkflow("triage", Ticket)
    probe = {"active": 0, "max_active": 0}

    async def concurrently(name: str, state: Ticket) -> None:
        probe["active"] += 1
        probe["max_active"] = max(probe["max_active"], probe["active"])
        for _ in range(3):
            await asyncio.sleep(0)
        probe["active"] -= 1
        state.trail.append(name)

    @workflow.step("classify")
    async def classify(state: Ticket, ctx) -> list[str]:
        state.category = "refund" if "refund" in state.text else "question"
        state.trail.append("classify")
        return ["load_customer", "load_orders"]

    @workflow.step("load_customer")
    async def load_customer(state: Ticket, ctx) -> str:
        await concurrently("load_customer", state)
        user = ctx.user
        state.customer = user.get_username() if user.is_authenticated else "anonymous"
        return "enrich"

    @workflow.step("load_orders")
    async def load_orders(state: Ticket, ctx) -> str:
        await concurrently("load_orders", state)
        state.orders = [7, 8]
        return "enrich"

    @workflow.step("enrich", retries=1)
    async def enrich(state: Ticket, ctx) -> str:
        state.attempts += 1
        if state.attempts == 1:
            raise ConnectionError("CRM unavailable")
        state.trail.append("enrich")
        return "summarize"

    @workflow.step("summarize")
    async def summarize(state: Ticket, ctx) -> str | Checkpoint | None:
        reply = await ctx.llm.generate(
            LLMPrompt(
                system="Summarise the support ticket in one sentence.",
                messages=[LLMMessage(role="user", content=state.text)],
                max_tokens=100,
            )
        )
        state.summary = reply.content
        state.trail.append("summarize")
        if state.category == "refund" and pause_before_refund:
            return Checkpoint(then="refund", reason="A refund needs a human")
        return None

    @workflow.step("refund")
    async def refund(state: Ticket, ctx) -> None:
        state.refunded = True
        state.trail.append("refund")

    return workflow, probe


def register(site, workflow, *, name="triage", prepare=None, **options):
    @site.agent_endpoint(name, workflow=workflow, description="Triages tickets.", **options)
    async def handler(intent, context):
        return prepare(intent) if prepare else Ticket(text=intent.raw)

    return site.get(name)


def trace_of(response):
    return ExecutionTrace.objects.get(trace_id=response.json()["execution_trace_id"])


def test_the_final_state_is_the_result(site, post, mock_llm, user, client):
    workflow, probe = build_triage()
    register(site, workflow)
    client.force_login(user)
    mock_llm.add_response("Customer asks where order 7 is.")
    response = post("triage", {"intent": "where is my order?"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    result = body["result"]
    assert result == {
        "text": "where is my order?",
        "category": "question",
        "customer": "alice",
        "orders": [7, 8],
        "summary": "Customer asks where order 7 is.",
        "attempts": 2,
        "refunded": False,
        "trail": result["trail"],
    }
    trail = result["trail"]
    assert trail[0] == "classify" and trail[-2:] == ["enrich", "summarize"]
    assert sorted(trail[1:3]) == ["load_customer", "load_orders"]
    # The two branches ran concurrently, and the step both returned ran once.
    assert probe["max_active"] == 2
    trace = trace_of(response)
    assert trace.status == "completed"
    assert trace.result == result
    assert trace.harness_report["engine"] == "workflow"
    assert trace.checkpoint is None


def test_events_record_every_step_attempt_and_branch(site, post, mock_llm):
    workflow, _ = build_triage()
    register(site, workflow)
    mock_llm.add_response("summary")
    response = post("triage", {"intent": "where is my order?"})
    report = trace_of(response).harness_report["workflow"]
    assert report["name"] == "triage"
    events = report["events"]
    starts = [(e["step"], e["attempt"]) for e in events if e["kind"] == "workflow_step_start"]
    assert starts[0] == ("classify", 1)
    assert sorted(starts[1:3]) == [("load_customer", 1), ("load_orders", 1)]
    assert starts[3:] == [("enrich", 1), ("enrich", 2), ("summarize", 1)]
    completed = {e["step"]: e for e in events if e["kind"] == "workflow_step_complete"}
    assert list(completed) == [
        "classify",
        *[s for s, _ in starts[1:3]],
        "enrich",
        "summarize",
    ]
    assert completed["classify"]["next"] == ["load_customer", "load_orders"]
    assert completed["load_orders"]["next"] == "enrich"
    assert completed["summarize"]["next"] is None
    assert all(e["duration_ms"] >= 0 for e in completed.values())
    # The failed first attempt of enrich has a start and no completion.
    assert [e["kind"] for e in events].count("workflow_step_complete") == 5


def test_a_step_llm_call_is_budgeted_and_recorded_with_purpose_workflow(
    site, post, mock_llm, user, client
):
    workflow, _ = build_triage()
    register(site, workflow)
    client.force_login(user)
    mock_llm.add_response("summary")
    response = post("triage", {"intent": "where is my order?"})
    [prompt] = mock_llm.prompts
    assert prompt.system == "Summarise the support ticket in one sentence."
    assert prompt.messages[0].content == "where is my order?"
    call = LLMCall.objects.get()
    assert call.trace == trace_of(response)
    assert (call.purpose, call.alias, call.user_id) == ("workflow", "default", user.pk)
    assert call.input_tokens > 0


@pytest.mark.parametrize(
    "prepare",
    [
        pytest.param(lambda intent: Ticket(text="from instance"), id="instance"),
        pytest.param(lambda intent: {"text": "from dict", "trail": ["handler"]}, id="dict"),
        pytest.param(lambda intent: None, id="none-means-defaults"),
    ],
)
def test_the_handler_prepares_the_initial_state(site, post, mock_llm, prepare):
    workflow, _ = build_triage()
    register(site, workflow, prepare=prepare)
    mock_llm.add_response("summary")
    response = post("triage", {"intent": "hello"})
    assert response.status_code == 200, response.json()
    expected = prepare(None)
    expected = expected.model_dump() if isinstance(expected, Ticket) else (expected or {})
    result = response.json()["result"]
    assert result["text"] == expected.get("text", "")
    assert result["trail"][: len(expected.get("trail", []))] == expected.get("trail", [])
    assert result["summary"] == "summary"


def test_a_step_sees_the_request(site, post, mock_llm, user, client):
    workflow: AgentWorkflow[Ticket] = AgentWorkflow("inspect", Ticket)

    @workflow.step("look")
    async def look(state: Ticket, ctx) -> None:
        state.trail = [
            ctx.intent.raw,
            ctx.intent.action.value,
            ctx.context.endpoint_name,
            ctx.context.trace_id,
            ctx.context.user_id,
            ctx.user.get_username(),
        ]

    register(site, workflow, name="inspect")
    client.force_login(user)
    response = post("inspect", {"intent": "show my orders"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"]["trail"] == [
        "show my orders",
        "read",
        "inspect",
        response.json()["execution_trace_id"],
        str(user.pk),
        "alice",
    ]


def test_a_checkpoint_pauses_with_202_and_the_workflow_resumes(site, post, mock_llm):
    workflow, _ = build_triage(pause_before_refund=True)
    register(site, workflow)
    mock_llm.add_response("Customer wants a refund.")
    response = post("triage", {"intent": "I want a refund"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending_approval"
    # What waits is described with the approval, not as an error.
    assert body["approval_request"]["summary"] == "A refund needs a human"
    assert "error" not in body
    assert "result" not in body

    trace = trace_of(response)
    assert trace.status == "pending_approval"
    assert trace.checkpoint["kind"] == "workflow"
    stored = trace.checkpoint["workflow"]
    checkpoint = WorkflowCheckpoint.from_json(stored)
    assert checkpoint.workflow == "triage"
    assert checkpoint.pending == ["refund"]
    assert checkpoint.reason == "A refund needs a human"
    assert checkpoint.state["summary"] == "Customer wants a refund."
    assert checkpoint.state["refunded"] is False
    assert checkpoint.completed_steps[-1] == "summarize"
    assert "refund" not in checkpoint.completed_steps
    events = trace.harness_report["workflow"]["events"]
    assert events[-1]["kind"] == "workflow_checkpoint"
    assert events[-1]["pending"] == ["refund"]

    approved = async_to_sync(workflow.resume)(stored, approved=True, context=SimpleNamespace())
    assert approved.status == "completed"
    assert approved.state.refunded is True
    assert approved.steps_run[-1] == "refund"
    assert approved.state.summary == "Customer wants a refund."

    rejected = async_to_sync(workflow.resume)(stored, approved=False)
    assert rejected.status == "rejected"
    assert rejected.state.refunded is False


def test_a_step_requiring_approval_pauses_before_it_runs(site, post, mock_llm):
    ran = []
    workflow: AgentWorkflow[Ticket] = AgentWorkflow("guarded", Ticket)

    @workflow.step("prepare")
    async def prepare(state: Ticket, ctx) -> str:
        state.trail.append("prepare")
        return "delete"

    @workflow.step("delete", require_approval=True)
    async def delete(state: Ticket, ctx) -> None:
        ran.append("delete")

    register(site, workflow, name="guarded")
    response = post("guarded", {"intent": "delete my account"})
    assert response.status_code == 202
    assert ran == []
    trace = trace_of(response)
    assert trace.checkpoint["workflow"]["pending"] == ["delete"]
    assert trace.checkpoint["workflow"]["state"]["trail"] == ["prepare"]
    async_to_sync(workflow.resume)(trace.checkpoint["workflow"], approved=True)
    assert ran == ["delete"]


@pytest.mark.parametrize(
    "prepared",
    [
        pytest.param({"attempts": "many"}, id="invalid-field"),
        pytest.param({"unknown": 1, "text": ["not", "text"]}, id="wrong-type"),
        pytest.param(["not", "a", "state"], id="not-a-mapping"),
        pytest.param("just text", id="a-string"),
    ],
)
def test_a_handler_returning_bad_state_is_a_500_with_the_workflow_error(
    site, post, mock_llm, prepared
):
    workflow, _ = build_triage()
    register(site, workflow, prepare=lambda intent: prepared)
    response = post("triage", {"intent": "hello"})
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error"
    assert body["details"] == {"code": "workflow_error"}
    assert "initial Ticket state" in body["error"]
    trace = trace_of(response)
    assert trace.status == "error"
    assert trace.error_type == "agentic_django.core.exceptions.WorkflowError"
    assert "initial Ticket state" in trace.error
    assert mock_llm.call_count == 0


def test_a_step_failing_beyond_its_retries_is_a_500_with_the_events_kept(site, post, mock_llm):
    workflow: AgentWorkflow[Ticket] = AgentWorkflow("fragile", Ticket)

    @workflow.step("first")
    async def first(state: Ticket, ctx) -> str:
        return "flaky"

    @workflow.step("flaky", retries=2)
    async def flaky(state: Ticket, ctx) -> None:
        state.attempts += 1
        raise ConnectionError("still down")

    register(site, workflow, name="fragile")
    response = post("fragile", {"intent": "go"})
    assert response.status_code == 500
    trace = trace_of(response)
    assert trace.status == "error"
    assert trace.error_type == "agentic_django.core.exceptions.WorkflowError"
    assert "'flaky' failed after 3 attempt(s)" in trace.error
    # The exception's message stays on the trace; the client only learns its type.
    assert "caused by ConnectionError('still down')" in trace.error
    assert "still down" not in response.json()["error"]
    assert "ConnectionError" in response.json()["error"]
    events = trace.harness_report["workflow"]["events"]
    assert [(e["step"], e["attempt"]) for e in events if e["kind"] == "workflow_step_start"] == [
        ("first", 1),
        ("flaky", 1),
        ("flaky", 2),
        ("flaky", 3),
    ]
    assert trace.checkpoint is None


def test_a_policy_violation_in_a_step_is_a_403_not_a_workflow_error(site, post, mock_llm):
    workflow: AgentWorkflow[Ticket] = AgentWorkflow("strict", Ticket)
    attempts = []

    @workflow.step("check", retries=3)
    async def check(state: Ticket, ctx) -> None:
        attempts.append(1)
        raise PolicyViolation("Refunds above 100 need a manager", policy="refund_rules")

    register(site, workflow, name="strict")
    response = post("strict", {"intent": "refund 500"})
    assert response.status_code == 403
    assert response.json()["details"]["policy"] == "refund_rules"
    assert attempts == [1]  # never retried
    trace = trace_of(response)
    assert trace.status == "policy_denied"
    assert trace.policy_evaluations[-1]["results"][0]["policy_name"] == "refund_rules"


def test_manual_autonomy_runs_the_handler_alone(site, post, mock_llm):
    workflow, _ = build_triage()
    register(site, workflow, name="manual", autonomy_level="manual")
    response = post("manual", {"intent": "where is my order?"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == Ticket(text="where is my order?").model_dump()
    assert mock_llm.call_count == 0
    assert "workflow" not in trace_of(response).harness_report
