"""An approved call to an MCP server's tool, carried out by a real Celery worker.

The worker is another process: it imports the endpoint, lists the MCP server's
tools on a connection of its own (it starts the stdio server itself), runs the
reviewed call and lets the model finish, as it would for the endpoint's own tools.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, Permission

pytest.importorskip("mcp")

from agentic_django.models import ApprovalRequest, ExecutionTrace

from .conftest import services_missing, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(services_missing()), reason=services_missing() or "-"),
    pytest.mark.django_db(transaction=True),
]


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_a_worker_reconnects_to_the_mcp_server_to_carry_out_an_approved_call(
    client, user, django_user_model, start_worker
):
    group, _ = Group.objects.get_or_create(name="approvers")
    group.permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    approver = django_user_model.objects.create_user("approver", password="pw")
    approver.groups.add(group)
    worker = start_worker()

    client.force_login(user)
    paused = post(client, "/agents/mcp_catalog_admin/", {"intent": "delete product A1"})
    assert paused.status_code == 202, paused.json()
    request = ApprovalRequest.objects.get(request_id=paused.json()["approval_request"]["id"])
    assert (request.kind, request.action["tool"], request.action["arguments"]) == (
        "tool_call",
        "delete_product",
        {"sku": "A1"},
    )

    client.force_login(approver)
    decided = post(
        client, f"/agents/approvals/{request.request_id}/decision/", {"decision": "approve"}
    )
    assert decided.status_code == 200, decided.json()

    def executed() -> bool:
        request.refresh_from_db()
        return request.status in ("executed", "failed")

    wait_for(executed, "the worker to carry out the approved MCP call", workers=(worker,))
    assert request.status == "executed", request.error
    assert request.result == 'Done: {"result": "deleted A1"}'
    [trace] = ExecutionTrace.objects.filter(approval_request=request)
    assert [(c["tool"], c["error"]) for c in trace.tool_calls] == [("delete_product", None)]
