"""Generated code and workflow steps waiting for approval, carried out inline."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from pydantic import BaseModel

from agentic_django.harness import ApprovalRule, ApprovalWorkflow
from agentic_django.models import ApprovalRequest, ExecutionTrace
from agentic_django.runtime import AgentWorkflow, Checkpoint

pytestmark = pytest.mark.django_db

WRITES_NEED_APPROVAL = ApprovalWorkflow(
    [ApprovalRule(name="writes", require_for_actions=["write"], approvers=["user:boss"])]
)


@pytest.fixture
def boss(django_user_model):
    user = django_user_model.objects.create_user("boss", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    return user


def send(client, path, body=None):
    if body is None:
        return client.get(path)
    return client.post(path, json.dumps(body), content_type="application/json")


def program(code):
    return {"code": code, "reasoning": "adds them", "confidence": 0.9}


def test_generated_code_matching_a_rule_runs_only_after_approval(
    site, client, user, boss, mock_llm
):
    @site.agent_endpoint("ledger", codegen=True, approval=WRITES_NEED_APPROVAL)
    async def ledger(intent):
        return {"amounts": [2, 3]}

    client.force_login(user)
    mock_llm.add_structured_response(program("result = sum(data['amounts'])"))
    # A read does not match the rule: it runs at once.
    assert send(client, "/agents/ledger/", {"intent": "show the total"}).json()["result"] == 5
    mock_llm.add_structured_response(program("result = sum(data['amounts']) * 2"))
    paused = send(client, "/agents/ledger/", {"intent": "update the total"})
    assert paused.status_code == 202, paused.json()
    approval = paused.json()["approval_request"]
    assert (approval["kind"], approval["rule"]) == ("code", "writes")
    stored = ApprovalRequest.objects.get(request_id=approval["id"])
    assert stored.action["code"] == "result = sum(data['amounts']) * 2"
    assert stored.action["data"] == {"amounts": [2, 3]}
    # Nothing ran: the trace stops before the sandbox.
    assert "sandbox" not in stored.trace.harness_report

    client.force_login(boss)
    detail = send(client, approval["url"]).json()
    assert detail["action"]["code"] == stored.action["code"]
    body = send(client, f"{approval['url']}decision/", {"decision": "approve"}).json()
    assert (body["status"], body["result"]) == ("executed", 10)
    carried = ExecutionTrace.objects.get(approval_request=stored)
    assert carried.harness_report["sandbox"]["backend"] == "forkserver"
    assert carried.generated_code == stored.action["code"]


def test_autonomy_auto_runs_generated_code_without_asking(site, client, user, mock_llm):
    @site.agent_endpoint(
        "ledger", codegen=True, approval=WRITES_NEED_APPROVAL, autonomy_level="auto"
    )
    async def ledger(intent):
        return {"amounts": [2, 3]}

    client.force_login(user)
    mock_llm.add_structured_response(program("result = len(data['amounts'])"))
    assert send(client, "/agents/ledger/", {"intent": "update the total"}).status_code == 200


def test_tampering_with_a_stored_action_fails_it(site, client, user, boss, mock_llm):
    @site.agent_endpoint("ledger", codegen=True, approval=WRITES_NEED_APPROVAL)
    async def ledger(intent):
        return {"amounts": [2, 3]}

    client.force_login(user)
    mock_llm.add_structured_response(program("result = 1"))
    approval = send(client, "/agents/ledger/", {"intent": "update it"}).json()["approval_request"]
    stored = ApprovalRequest.objects.get(request_id=approval["id"])
    stored.action = {**stored.action, "code": "result = 2"}
    stored.save(update_fields=["action"])
    client.force_login(boss)
    body = send(client, f"{approval['url']}decision/", {"decision": "approve"}).json()
    assert body["status"] == "failed"
    assert "changed after it was reviewed" in body["error"]


class Order(BaseModel):
    amount: int = 0
    placed: bool = False


def build_workflow():
    flow: AgentWorkflow[Order] = AgentWorkflow("purchase", Order, start="quote")

    @flow.step("quote")
    async def quote(state, ctx):
        state.amount = 40
        return Checkpoint(then="place", reason="Placing a 40 EUR order needs approval")

    @flow.step("place")
    async def place(state, ctx):
        state.placed = True

    return flow


def test_a_paused_workflow_resumes_after_approval(site, client, user, boss, mock_llm):
    @site.agent_endpoint("purchase", workflow=build_workflow(), approval=WRITES_NEED_APPROVAL)
    async def purchase(intent):
        return Order()

    client.force_login(user)
    paused = send(client, "/agents/purchase/", {"intent": "update stock: buy paper"})
    assert paused.status_code == 202
    approval = paused.json()["approval_request"]
    assert approval["kind"] == "workflow"
    client.force_login(boss)
    detail = send(client, approval["url"]).json()
    assert detail["summary"] == "Placing a 40 EUR order needs approval"
    assert detail["action"]["pending_steps"] == ["place"]
    body = send(client, f"{approval['url']}decision/", {"decision": "approve"}).json()
    assert (body["status"], body["result"]) == ("executed", {"amount": 40, "placed": True})


def test_a_rejected_workflow_runs_nothing(site, client, user, boss, mock_llm):
    @site.agent_endpoint("purchase", workflow=build_workflow(), approval=WRITES_NEED_APPROVAL)
    async def purchase(intent):
        return Order()

    client.force_login(user)
    approval = send(client, "/agents/purchase/", {"intent": "update: buy"}).json()[
        "approval_request"
    ]
    client.force_login(boss)
    body = send(client, f"{approval['url']}decision/", {"decision": "reject"}).json()
    assert (body["status"], body["result"]) == ("rejected", None)
    assert not ExecutionTrace.objects.filter(approval_request__request_id=approval["id"]).exists()


def test_signals_and_the_email_notifier(site, client, user, boss, mock_llm, mailoutbox):
    from agentic_django import signals
    from agentic_django.notifiers import EmailNotifier

    user.email = "requester@example.com"
    user.save()
    heard = []

    def listen(event):
        return lambda sender, request, **extra: heard.append((event, request.status))

    receivers = {name: listen(name) for name in ("requested", "decided", "executed", "expiring")}
    for name, receiver in receivers.items():
        getattr(signals, f"approval_{name}").connect(receiver)
    try:
        approval_rules = ApprovalWorkflow(
            WRITES_NEED_APPROVAL.rules, notifier=EmailNotifier(["approvers@example.com"])
        )

        @site.agent_endpoint("purchase", workflow=build_workflow(), approval=approval_rules)
        async def purchase(intent):
            return Order()

        client.force_login(user)
        with django_on_commit():
            approval = send(client, "/agents/purchase/", {"intent": "update: buy"}).json()[
                "approval_request"
            ]
        client.force_login(boss)
        with django_on_commit():
            send(client, f"{approval['url']}decision/", {"decision": "approve"})
    finally:
        for name, receiver in receivers.items():
            getattr(signals, f"approval_{name}").disconnect(receiver)
    # (Here on_commit callbacks run when the capture block ends, after the inline run.)
    assert sorted(heard) == [
        ("decided", "approved"),
        ("executed", "executed"),
        ("requested", "pending"),
    ]
    assert sorted(m.to[0] for m in mailoutbox) == [
        "approvers@example.com",
        "requester@example.com",
        "requester@example.com",
    ]
    assert "purchase" in mailoutbox[0].subject


def django_on_commit():
    """Run on_commit callbacks (the test transaction never commits)."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)
