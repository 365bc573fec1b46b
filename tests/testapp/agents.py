"""Endpoints the test suite exercises, discovered like any project's agents.py."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from rest_framework.permissions import AllowAny, IsAuthenticated

from agentic_django import (
    AgentContext,
    AgentResponse,
    AgentTasks,
    Intent,
    IntentScope,
    PolicyViolation,
    agents,
)
from agentic_django.harness import (
    ApprovalRule,
    ApprovalWorkflow,
    AutonomyPolicy,
    AutonomySignal,
    EscalationRule,
)
from agentic_django.mcp import sdk_available
from agentic_django.streaming import AgentStream

TASK_LOG: list[str] = []


class OrderFilters(BaseModel):
    status: str = "any"
    limit: int = 10


class Count(BaseModel):
    count: int


#: The test project's endpoints are public by choice (agent endpoints require an
#: authenticated caller by default), so most tests can call them anonymously; the
#: ``private`` ones keep the default, written out.
PUBLIC = [AllowAny]


@agents.agent_endpoint("echo", description="Echoes the parsed intent", permission_classes=PUBLIC)
async def echo(intent, context):
    return {
        "raw": intent.raw,
        "action": intent.action.value,
        "domain": intent.domain,
        "session_id": context.session_id,
    }


@agents.agent_endpoint(
    "orders",
    description="Order questions",
    intent_scope=IntentScope(allowed_intents=["order.*"], denied_intents=["order.write"]),
    response_model=Count,
    permission_classes=PUBLIC,
)
async def orders(intent: Intent[OrderFilters], context: AgentContext, tasks: AgentTasks) -> dict:
    tasks.add_task(TASK_LOG.append, f"orders:{intent.params.status if intent.params else '-'}")
    return {"count": 3}


@agents.agent_endpoint("private", permission_classes=[IsAuthenticated])
def private(intent, context):
    return {"user": context.user.get_username()}


@agents.agent_endpoint("boom", permission_classes=PUBLIC)
async def boom(intent, context):
    raise RuntimeError("secret internal detail")


@agents.agent_endpoint("denied", permission_classes=PUBLIC)
async def denied(intent, context):
    raise PolicyViolation("no refunds on Sundays", policy="refund_rules")


@agents.agent_endpoint("remember", permission_classes=PUBLIC)
async def remember(intent, context):
    count = context.session_context.get("count", 0) + 1
    context.session_context["count"] = count
    return {"count": count}


@agents.agent_endpoint("full_response", permission_classes=PUBLIC)
async def full_response(intent, context):
    return AgentResponse(result={"ok": True}, reasoning="because", follow_up_suggestions=["more"])


REPORTS = [{"name": "q1", "total": 120}, {"name": "q2", "total": 80}]


@agents.agent_endpoint(
    "reports",
    description="Reports computed by generated code, run once an approver agrees",
    codegen=True,
    llm="reports",
    # Each request asks the LLM (no cached code), so tests control what runs.
    code_cache=False,
    approval=ApprovalWorkflow([ApprovalRule(name="reports", approvers=["group:approvers"])]),
    permission_classes=PUBLIC,
)
async def reports(intent, context):
    return {"reports": REPORTS}


def record_group(name: str) -> None:
    """A background task a Celery worker can import: leaves a ``Group`` called ``name``."""
    from django.contrib.auth.models import Group

    Group.objects.get_or_create(name=name)


# --- streaming endpoints ------------------------------------------------------------------

CONFIDENCE_RULES = AutonomyPolicy(
    rules=[EscalationRule(name="unsure", level="supervised", confidence_below=0.5)]
)


def _number(text: str, default: int) -> int:
    digits = [word for word in text.split() if word.isdigit()]
    return int(digits[0]) if digits else default


@agents.agent_endpoint(
    "chatty", streaming="sse", description="Streams N partial results", permission_classes=PUBLIC
)
async def chatty(intent: Intent, stream: AgentStream):
    count = _number(intent.raw, 3)
    for index in range(count):
        await stream.emit_partial(f"part {index}")
    return {"parts": count}


@agents.agent_endpoint("ask", streaming=True, permission_classes=PUBLIC)
async def ask(intent: Intent, stream: AgentStream):
    """Asks the caller (or an approver) mid-stream; 'wait N' sets the timeout."""
    await stream.emit_thought("About to ask")
    decision = await stream.request_approval(
        "Proceed with the refund?", timeout_seconds=_number(intent.raw, 30)
    )
    return {"decision": decision}


@agents.agent_endpoint(
    "escalating", streaming="ndjson", autonomy=CONFIDENCE_RULES, permission_classes=PUBLIC
)
async def escalating(intent: Intent, stream: AgentStream):
    confidence = 0.9 if "sure" in intent.raw.split() else 0.2
    await stream.report_signal(AutonomySignal(confidence=confidence))
    sent = await stream.confirm("Send the e-mail?", timeout_seconds=30)
    return {"sent": sent, "level": stream.autonomy_level.value}


@agents.agent_endpoint("crashing", streaming="sse", permission_classes=PUBLIC)
async def crashing(intent: Intent, stream: AgentStream):
    await stream.emit_partial("working")
    raise RuntimeError("database password is hunter2")


@agents.agent_endpoint("private_stream", streaming="sse", permission_classes=[IsAuthenticated])
async def private_stream(intent: Intent, stream: AgentStream):
    await stream.emit_partial("for your eyes only")
    return {"ok": True}


@agents.agent_endpoint("slow", streaming="sse", on_disconnect="cancel", permission_classes=PUBLIC)
async def slow(intent: Intent, stream: AgentStream):
    await stream.emit_partial("started")
    await asyncio.sleep(_number(intent.raw, 30))
    return {"finished": True}


@agents.agent_endpoint(
    "ask_or_cancel", streaming="sse", on_disconnect="cancel", permission_classes=PUBLIC
)
async def ask_or_cancel(intent: Intent, stream: AgentStream):
    """Like ``ask``, but a client going away cancels the run (and its question)."""
    return {"decision": await stream.request_approval("Proceed?", timeout_seconds=60)}


if sdk_available():
    from . import mcp_agents  # noqa: F401  (registers the endpoint using the MCP test server)
