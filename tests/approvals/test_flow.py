"""The approval lifecycle over HTTP with the inline task runner."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, Permission

from agentic_django.harness import ApprovalRule, ApprovalWorkflow
from agentic_django.llm import ToolCall
from agentic_django.models import ApprovalRequest, ExecutionTrace
from agentic_django.runtime import tool

pytestmark = pytest.mark.django_db

REFUNDS: list[tuple[int, float]] = []


@tool(requires_approval=True)
def refund_order(order_id: int, amount: float) -> dict:
    """Refund part of an order."""
    REFUNDS.append((order_id, amount))
    return {"refunded": amount, "order_id": order_id}


@pytest.fixture(autouse=True)
def _reset():
    REFUNDS.clear()


@pytest.fixture
def manager(django_user_model):
    user = django_user_model.objects.create_user("manager", password="pw")
    group = Group.objects.create(name="managers")
    group.permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    user.groups.add(group)
    return user


@pytest.fixture
def support(site):
    approval = ApprovalWorkflow([ApprovalRule(name="refunds", approvers=["group:managers"])])

    @site.agent_endpoint("support", tools=[refund_order], approval=approval)
    async def support_agent(intent):
        return None


def send(client, path, body=None):
    if body is None:
        return client.get(path)
    return client.post(path, json.dumps(body), content_type="application/json")


def test_a_paused_tool_call_runs_after_a_managers_approval(
    client, user, manager, support, mock_llm
):
    client.force_login(user)
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="refund_order", arguments={"order_id": 7, "amount": 5.0})
    )
    response = send(client, "/agents/support/", {"intent": "refund 5 on order 7"})
    assert response.status_code == 202, response.json()
    approval = response.json()["approval_request"]
    assert approval["approvers"] == ["group:managers"]
    assert REFUNDS == []
    stored = ApprovalRequest.objects.get(request_id=approval["id"])
    assert (stored.status, stored.kind, stored.requested_by) == ("pending", "tool_call", user)
    assert stored.trace.status == "pending_approval"

    # The requester can read it but not decide it.
    assert send(client, approval["url"]).json()["status"] == "pending"
    denied = send(client, f"{approval['url']}decision/", {"decision": "approve"})
    assert denied.status_code == 403

    client.force_login(manager)
    mock_llm.add_response("Refunded 5.00 on order 7.")
    decided = send(client, f"{approval['url']}decision/", {"decision": "approve", "reason": "ok"})
    assert decided.status_code == 200, decided.json()
    body = decided.json()
    assert body["status"] == "executed", body
    assert body["result"] == "Refunded 5.00 on order 7."
    assert REFUNDS == [(7, 5.0)]
    stored.refresh_from_db()
    assert (stored.decided_by, stored.reason, stored.attempts) == (manager, "ok", 1)
    carried = ExecutionTrace.objects.get(approval_request=stored)
    assert carried.status == "completed" and carried.user == user
    assert [c["tool"] for c in carried.tool_calls] == ["refund_order"]

    # Approving again changes nothing; rejecting now is a conflict.
    again = send(client, f"{approval['url']}decision/", {"decision": "approve"})
    assert again.status_code == 200 and REFUNDS == [(7, 5.0)]
    conflict = send(client, f"{approval['url']}decision/", {"decision": "reject"})
    assert conflict.status_code == 409


def test_a_rejected_tool_call_is_answered_by_the_model(client, user, manager, support, mock_llm):
    client.force_login(user)
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="refund_order", arguments={"order_id": 7, "amount": 500.0})
    )
    approval = send(client, "/agents/support/", {"intent": "refund 500"}).json()["approval_request"]
    client.force_login(manager)
    mock_llm.add_response("Your refund was declined by a manager.")
    body = send(
        client, f"{approval['url']}decision/", {"decision": "reject", "reason": "too much"}
    ).json()
    assert body["status"] == "rejected"
    assert body["result"] == "Your refund was declined by a manager."
    assert REFUNDS == []
    last_prompt = mock_llm.prompts[-1]
    assert "not approved: too much" in last_prompt.messages[-1].content


def test_others_see_nothing(client, user, other_user, manager, support, mock_llm):
    client.force_login(user)
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="refund_order", arguments={"order_id": 1, "amount": 1.0})
    )
    approval = send(client, "/agents/support/", {"intent": "refund"}).json()["approval_request"]
    client.force_login(other_user)
    assert send(client, approval["url"]).status_code == 404
    assert send(client, f"{approval['url']}decision/", {"decision": "approve"}).status_code == 404
    assert send(client, "/agents/approvals/").json()["results"] == []
    client.force_login(manager)
    assert [r["id"] for r in send(client, "/agents/approvals/").json()["results"]] == [
        approval["id"]
    ]
    client.logout()
    assert send(client, "/agents/approvals/").status_code in (401, 403)


@pytest.mark.urls("tests.urls_without_agents")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_a_pause_from_python_needs_no_agent_urls_in_the_project(
    user, support, site, mock_llm
):
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="refund_order", arguments={"order_id": 7, "amount": 5.0})
    )
    response = await site.process_intent("refund 5 on order 7", endpoint_name="support", user=user)
    # Stored and answered like over HTTP; only the link, which needs the routes, is absent.
    assert response.status == "pending_approval"
    assert response.approval_request["url"] is None
    stored = await ApprovalRequest.objects.aget(request_id=response.approval_request["id"])
    assert stored.status == "pending"
    trace = await ExecutionTrace.objects.aget(trace_id=response.execution_trace_id)
    assert trace.status == "pending_approval"
