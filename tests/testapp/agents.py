"""Endpoints the test suite exercises, discovered like any project's agents.py."""

from __future__ import annotations

from pydantic import BaseModel
from rest_framework.permissions import IsAuthenticated

from agentic_django import (
    AgentContext,
    AgentResponse,
    AgentTasks,
    Intent,
    IntentScope,
    PolicyViolation,
    agents,
)
from agentic_django.harness import ApprovalRule, ApprovalWorkflow

TASK_LOG: list[str] = []


class OrderFilters(BaseModel):
    status: str = "any"
    limit: int = 10


class Count(BaseModel):
    count: int


@agents.agent_endpoint("echo", description="Echoes the parsed intent")
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
)
async def orders(intent: Intent[OrderFilters], context: AgentContext, tasks: AgentTasks) -> dict:
    tasks.add_task(TASK_LOG.append, f"orders:{intent.params.status if intent.params else '-'}")
    return {"count": 3}


@agents.agent_endpoint("private", permission_classes=[IsAuthenticated])
def private(intent, context):
    return {"user": context.user.get_username()}


@agents.agent_endpoint("boom")
async def boom(intent, context):
    raise RuntimeError("secret internal detail")


@agents.agent_endpoint("denied")
async def denied(intent, context):
    raise PolicyViolation("no refunds on Sundays", policy="refund_rules")


@agents.agent_endpoint("remember")
async def remember(intent, context):
    count = context.session_context.get("count", 0) + 1
    context.session_context["count"] = count
    return {"count": count}


@agents.agent_endpoint("full_response")
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
)
async def reports(intent, context):
    return {"reports": REPORTS}


def record_group(name: str) -> None:
    """A background task a Celery worker can import: leaves a ``Group`` called ``name``."""
    from django.contrib.auth.models import Group

    Group.objects.get_or_create(name=name)
