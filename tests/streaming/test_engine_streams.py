"""The engines on a stream: the agentic loop's tool calls, text and approvals; workflow steps."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import Permission
from pydantic import BaseModel, Field
from rest_framework.authtoken.models import Token

from agentic_django.asgi import get_application
from agentic_django.core.exceptions import PermissionDenied
from agentic_django.harness import ApprovalRule, ApprovalWorkflow
from agentic_django.llm import LLMMessage, LLMPrompt, MockBackend, ToolCall
from agentic_django.models import AgentRun, ApprovalRequest, ExecutionTrace
from agentic_django.runtime import AgentWorkflow, Checkpoint, tool
from agentic_django.services import runs
from agentic_django.services.stream_approvals import decide_stream
from agentic_django.testing import use_llm

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]

#: A hang guard only: every wait below normally ends well within it.
TIMEOUT = 20

ORDERS = {7: {"id": 7, "status": "shipped"}}
CALLS: list[tuple[str, dict[str, Any]]] = []

ANSWER = "Order 7 has shipped and should arrive on Friday."


def lookup_order(order_id: int) -> dict:
    """Look up one order by its id."""
    CALLS.append(("lookup_order", {"order_id": order_id}))
    try:
        return ORDERS[order_id]
    except KeyError:
        raise LookupError(f"no order {order_id}") from None


@tool(requires_approval=True)
async def refund_order(order_id: int, amount: float) -> dict:
    """Refund part of an order."""
    CALLS.append(("refund_order", {"order_id": order_id, "amount": amount}))
    return {"refunded": amount, "order_id": order_id}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _isolation():
    CALLS.clear()
    yield
    for run_id, task in list(runs._live.items()):
        runs.cancel_local(run_id)
        await asyncio.wait([task], timeout=TIMEOUT)
    CALLS.clear()


@pytest.fixture
def engine_llm():
    """The scripted model behind the ``engine`` alias the endpoints below use."""
    with use_llm(MockBackend(), "engine") as backend:
        yield backend


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def approver(django_user_model):
    carol = django_user_model.objects.create_user(username="carol")
    carol.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    return carol


def register_support(site, name: str = "support_stream", **options: Any) -> None:
    options.setdefault("tools", [lookup_order])
    options.setdefault("streaming", "sse")

    @site.agent_endpoint(name, description="Answers order questions.", llm="engine", **options)
    async def support(intent):
        return None


# --- HTTP streams over ASGI ----------------------------------------------------------------


class Stream:
    """The response of ``POST /agents/<name>/stream/``, read frame by frame."""

    def __init__(self, communicator: ApplicationCommunicator, start: dict[str, Any]) -> None:
        self.communicator = communicator
        self.status: int = start["status"]
        self.headers = {name.decode(): value.decode() for name, value in start["headers"]}
        self.ended = False
        self._buffer = b""

    async def _chunk(self) -> bytes:
        message = await self.communicator.receive_output(TIMEOUT)
        assert message["type"] == "http.response.body", message
        self.ended = not message.get("more_body", False)
        return bytes(message.get("body", b""))

    async def event(self) -> dict[str, Any] | None:
        """The next event (SSE ``event``/``id`` checked against it), ``None`` at the end."""
        while b"\n\n" not in self._buffer:
            if self.ended:
                assert self._buffer == b"", self._buffer
                return None
            self._buffer += await self._chunk()
        raw, self._buffer = self._buffer.split(b"\n\n", 1)
        lines = raw.decode().split("\n")
        if all(line.startswith(":") for line in lines):
            return await self.event()  # keepalive
        fields = dict(line.split(": ", 1) for line in lines)
        event: dict[str, Any] = json.loads(fields["data"])
        assert (fields["event"], fields["id"]) == (event["kind"], str(event["seq"])), fields
        return event

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """Events up to and including the first of ``kind``."""
        events: list[dict[str, Any]] = []
        while not events or events[-1]["kind"] != kind:
            event = await self.event()
            assert event is not None, f"the stream ended before {kind!r}: {events}"
            events.append(event)
        return events

    async def rest(self) -> list[dict[str, Any]]:
        events = []
        while (event := await self.event()) is not None:
            events.append(event)
        return events

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(TIMEOUT)


@pytest.fixture
async def stream():
    """``await stream(name, intent, token)``: POST to the endpoint's stream; closed afterwards."""
    opened: list[Stream] = []

    async def post(name: str, intent: str, token: str | None = None) -> Stream:
        payload = json.dumps({"intent": intent}).encode()
        headers = [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if token is not None:
            headers.append((b"authorization", f"Token {token}".encode()))
        path = f"/agents/{name}/stream/"
        communicator = ApplicationCommunicator(
            get_application(),
            {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "root_path": "",
                "query_string": b"",
                "headers": headers,
                "client": ("127.0.0.1", 50000),
                "server": ("testserver", 80),
            },
        )
        await communicator.send_input({"type": "http.request", "body": payload, "more_body": False})
        start = await communicator.receive_output(TIMEOUT)
        assert start["type"] == "http.response.start", start
        response = Stream(communicator, start)
        opened.append(response)
        assert response.status == 200, start
        return response

    yield post
    for response in opened:
        await response.close()


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["kind"] == kind]


def streamed_text(events: list[dict[str, Any]]) -> str:
    return "".join(event["text"] for event in of_kind(events, "partial_result"))


async def trace_of(final: dict[str, Any]) -> ExecutionTrace:
    return await sync_to_async(ExecutionTrace.objects.get)(trace_id=final["trace_id"])


# --- the agentic loop ----------------------------------------------------------------------


async def test_a_tools_endpoint_streams_its_tool_calls_and_its_answer(
    site, engine_llm, stream, token, user
):
    register_support(site)
    engine_llm.add_tool_call_response(
        ToolCall(id="c1", name="lookup_order", arguments={"order_id": 7})
    )
    engine_llm.add_response(ANSWER)

    response = await stream("support_stream", "where is order 7?", token)
    run_id = response.headers["x-agent-run-id"]
    events = await response.rest()
    assert [event["seq"] for event in events] == list(range(len(events)))

    kinds = [event["kind"] for event in events]
    assert kinds[:2] == ["tool_call_started", "tool_call_completed"]
    assert kinds[-1] == "final"
    assert set(kinds[2:-1]) == {"partial_result"}

    started, completed = events[:2]
    assert started["tool"] == "lookup_order"
    assert started["arguments"] == {"order_id": 7}
    assert started["call_id"] == "c1"
    assert started["iteration"] == 1
    assert completed["tool"] == "lookup_order"
    assert completed["call_id"] == "c1"
    assert completed["error"] is None
    assert isinstance(completed["duration_ms"], float) and completed["duration_ms"] >= 0
    assert json.loads(completed["summary"]) == ORDERS[7]

    # The model's reply arrived a piece at a time, and the pieces are the answer.
    assert len(of_kind(events, "partial_result")) > 1
    assert streamed_text(events) == ANSWER
    final = events[-1]
    assert final["result"] == ANSWER
    assert final["status"] == "completed"
    assert CALLS == [("lookup_order", {"order_id": 7})]

    # The model saw the tool's result before answering.
    assert engine_llm.call_count == 2
    assert json.loads(engine_llm.prompts[1].messages[-1].content) == ORDERS[7]

    trace = await trace_of(final)
    assert trace.status == "completed"
    assert trace.result == ANSWER
    assert trace.harness_report["engine"] == "loop"
    assert [
        (c["iteration"], c["call_id"], c["tool"], c["arguments"]) for c in trace.tool_calls
    ] == [(1, "c1", "lookup_order", {"order_id": 7})]
    assert trace.tool_calls[0]["error"] is None
    run = await sync_to_async(AgentRun.objects.get)(run_id=run_id)
    assert (run.status, run.trace_id, run.user_id) == ("completed", trace.pk, user.pk)


async def test_a_failing_tool_is_reported_on_the_stream_and_to_the_model(
    site, engine_llm, stream, token
):
    register_support(site)
    engine_llm.add_tool_call_response(
        ToolCall(id="c1", name="lookup_order", arguments={"order_id": 99})
    )
    engine_llm.add_response("I could not find order 99.")

    events = await (await stream("support_stream", "where is order 99?", token)).rest()
    [completed] = of_kind(events, "tool_call_completed")
    assert completed["call_id"] == "c1"
    assert "LookupError" in completed["error"] and "no order 99" in completed["error"]
    assert events[-1]["kind"] == "final"
    assert events[-1]["result"] == "I could not find order 99."
    assert streamed_text(events) == "I could not find order 99."
    trace = await trace_of(events[-1])
    assert "no order 99" in trace.tool_calls[0]["error"]


async def test_without_a_tool_call_the_answer_is_streamed_straight_away(
    site, engine_llm, stream, token
):
    register_support(site)
    engine_llm.add_response("Just ask me about an order.")
    events = await (await stream("support_stream", "hello", token)).rest()
    assert {event["kind"] for event in events[:-1]} == {"partial_result"}
    assert streamed_text(events) == events[-1]["result"] == "Just ask me about an order."


# --- tool approvals mid-stream -------------------------------------------------------------


async def ask_for_a_refund(stream, engine_llm, token: str, name: str = "refunds_stream"):
    engine_llm.add_tool_call_response(
        ToolCall(id="r1", name="refund_order", arguments={"order_id": 7, "amount": 5.0})
    )
    response = await stream(name, "refund 5 on order 7", token)
    before = await response.until("approval_requested")
    requested = before[-1]
    assert "refund_order" in requested["prompt"]
    assert '"amount": 5.0' in requested["prompt"]
    assert requested["options"] == ["approve", "reject"]
    assert not of_kind(before, "tool_call_started")
    assert CALLS == []
    return response, requested


async def test_an_approver_lets_a_tool_call_of_a_stream_run(
    site, engine_llm, stream, token, user, approver
):
    register_support(site, "refunds_stream", tools=[refund_order])
    response, requested = await ask_for_a_refund(stream, engine_llm, token)
    approval_id = requested["approval_id"]

    stored = await sync_to_async(ApprovalRequest.objects.select_related("run").get)(
        request_id=approval_id
    )
    assert stored.kind == "stream"
    assert stored.run.run_id == response.headers["x-agent-run-id"]
    assert stored.run.status == "waiting_approval"
    assert stored.action["owner_may_decide"] is False
    assert stored.rule_name == "default"

    # The endpoint's rule does not allow self-approval: the owner may not decide it.
    with pytest.raises(PermissionDenied):
        await sync_to_async(decide_stream)(approval_id, user, "approve")
    assert (await sync_to_async(ApprovalRequest.objects.get)(pk=stored.pk)).status == "pending"

    engine_llm.add_response("Refunded 5.00 on order 7.")
    await sync_to_async(decide_stream)(approval_id, approver, "approve", reason="fine")
    events = await response.rest()
    kinds = [event["kind"] for event in events]
    assert kinds[:3] == ["approval_resolved", "tool_call_started", "tool_call_completed"]
    assert kinds[-1] == "final"
    resolved = events[0]
    assert (resolved["decision"], resolved["decided_by"]) == ("approve", "carol")
    assert events[1]["tool"] == "refund_order" and events[1]["call_id"] == "r1"
    assert events[2]["error"] is None
    assert CALLS == [("refund_order", {"order_id": 7, "amount": 5.0})]
    assert streamed_text(events) == events[-1]["result"] == "Refunded 5.00 on order 7."

    trace = await trace_of(events[-1])
    assert [c["tool"] for c in trace.tool_calls] == ["refund_order"]


async def test_the_owner_decides_when_the_rule_allows_self_approval(
    site, engine_llm, stream, token, user
):
    rule = ApprovalRule(name="self_service", allow_self_approval=True)
    register_support(
        site, "refunds_stream", tools=[refund_order], approval=ApprovalWorkflow([rule])
    )
    response, requested = await ask_for_a_refund(stream, engine_llm, token)
    stored = await sync_to_async(ApprovalRequest.objects.get)(request_id=requested["approval_id"])
    assert (stored.rule_name, stored.action["owner_may_decide"]) == ("self_service", True)

    engine_llm.add_response("Refunded.")
    await sync_to_async(decide_stream)(requested["approval_id"], user, "approve")
    events = await response.rest()
    assert events[0]["kind"] == "approval_resolved"
    assert (events[0]["decision"], events[0]["decided_by"]) == ("approve", "alice")
    assert CALLS == [("refund_order", {"order_id": 7, "amount": 5.0})]
    assert events[-1]["kind"] == "final" and events[-1]["result"] == "Refunded."


async def test_a_rejected_tool_call_is_explained_to_the_model_which_answers(
    site, engine_llm, stream, token, approver
):
    register_support(site, "refunds_stream", tools=[refund_order])
    response, requested = await ask_for_a_refund(stream, engine_llm, token)

    engine_llm.add_response("A manager declined your refund.")
    await sync_to_async(decide_stream)(requested["approval_id"], approver, "reject")
    events = await response.rest()
    kinds = [event["kind"] for event in events]
    assert kinds[0] == "approval_resolved" and events[0]["decision"] == "reject"
    assert "tool_call_started" not in kinds
    assert CALLS == []

    told = engine_llm.prompts[-1].messages[-1]
    assert told.role == "tool" and told.tool_call_id == "r1" and told.is_error
    assert "was not approved" in told.content and "refund_order" in told.content
    assert events[-1]["kind"] == "final"
    assert events[-1]["result"] == "A manager declined your refund."
    assert streamed_text(events) == "A manager declined your refund."


# --- workflows -----------------------------------------------------------------------------


class Ticket(BaseModel):
    text: str = ""
    category: str | None = None
    trail: list[str] = Field(default_factory=list)
    summary: str | None = None
    refunded: bool = False


def build_workflow(*, pause: bool = False) -> AgentWorkflow[Ticket]:
    workflow: AgentWorkflow[Ticket] = AgentWorkflow("triage", Ticket)

    @workflow.step("classify")
    async def classify(state: Ticket, ctx) -> list[str]:
        state.category = "refund" if "refund" in state.text else "question"
        state.trail.append("classify")
        return ["load_customer", "load_orders"]

    @workflow.step("load_customer")
    async def load_customer(state: Ticket, ctx) -> str:
        state.trail.append("load_customer")
        return "summarize"

    @workflow.step("load_orders")
    async def load_orders(state: Ticket, ctx) -> str:
        state.trail.append("load_orders")
        return "summarize"

    @workflow.step("summarize")
    async def summarize(state: Ticket, ctx) -> str | Checkpoint | None:
        reply = await ctx.llm.generate(
            LLMPrompt(system="Summarise.", messages=[LLMMessage(role="user", content=state.text)])
        )
        state.summary = reply.content
        state.trail.append("summarize")
        if pause:
            return Checkpoint(then="refund", reason="A refund needs a human")
        return None

    @workflow.step("refund")
    async def refund(state: Ticket, ctx) -> None:
        state.refunded = True

    return workflow


def register_workflow(site, workflow: AgentWorkflow[Ticket]) -> None:
    @site.agent_endpoint(
        "triage_stream",
        workflow=workflow,
        streaming="sse",
        llm="engine",
        description="Triages tickets.",
    )
    async def triage(intent):
        return Ticket(text=intent.raw)


async def test_a_workflow_streams_the_start_and_end_of_every_step(site, engine_llm, stream, token):
    register_workflow(site, build_workflow())
    engine_llm.add_response("Asks where the order is.")
    events = await (await stream("triage_stream", "where is my order?", token)).rest()
    assert [event["seq"] for event in events] == list(range(len(events)))
    assert events[-1]["kind"] == "final"

    steps = [event for event in events if event["kind"].startswith("workflow_step_")]
    assert len(steps) == len(events) - 1
    starts = [event["step"] for event in of_kind(steps, "workflow_step_start")]
    completes = {event["step"]: event for event in of_kind(steps, "workflow_step_complete")}
    assert starts[0] == "classify" and starts[-1] == "summarize"
    assert sorted(starts[1:3]) == ["load_customer", "load_orders"]
    assert len(starts) == 4
    assert set(completes) == set(starts)
    assert sorted(completes["classify"]["next"]) == ["load_customer", "load_orders"]
    assert completes["load_orders"]["next"] == "summarize"
    assert completes["summarize"]["next"] is None
    assert all(event["attempt"] == 1 for event in of_kind(steps, "workflow_step_start"))
    assert all(event["duration_ms"] >= 0 for event in completes.values())
    # Every step completes after it starts.
    for name in starts:
        start_at = next(
            e["seq"] for e in steps if e["kind"].endswith("start") and e["step"] == name
        )
        assert completes[name]["seq"] > start_at

    final = events[-1]
    assert final["status"] == "completed"
    assert final["result"]["category"] == "question"
    assert final["result"]["trail"][0] == "classify"
    assert final["result"]["trail"][-1] == "summarize"
    assert final["result"]["summary"] == "Asks where the order is."
    trace = await trace_of(final)
    assert trace.harness_report["engine"] == "workflow"
    recorded = [e["kind"] for e in trace.harness_report["workflow"]["events"]]
    assert recorded == [event["kind"] for event in steps]


async def test_a_workflow_checkpoint_ends_the_stream_pending_approval(
    site, engine_llm, stream, token
):
    register_workflow(site, build_workflow(pause=True))
    engine_llm.add_response("Wants a refund.")
    events = await (await stream("triage_stream", "refund my order", token)).rest()
    kinds = [event["kind"] for event in events]
    assert kinds[-2:] == ["workflow_checkpoint", "final"]
    checkpoint = events[-2]
    assert checkpoint["workflow"] == "triage"
    assert checkpoint["pending"] == ["refund"]
    assert checkpoint["reason"] == "A refund needs a human"
    final = events[-1]
    assert final["status"] == "pending_approval"
    approval = final["approval_request"]
    assert approval["kind"] == "workflow"
    stored = await sync_to_async(ApprovalRequest.objects.get)(request_id=approval["id"])
    assert (stored.kind, stored.status) == ("workflow", "pending")
    assert "refund" not in [e["step"] for e in of_kind(events, "workflow_step_start")]
