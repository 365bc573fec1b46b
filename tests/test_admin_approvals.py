"""The approval requests admin: who sees what, reviewing the stored action, deciding."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from agentic_django.harness import ApprovalRule, ApprovalWorkflow
from agentic_django.llm import ToolCall
from agentic_django.models import (
    ApprovalApprover,
    ApprovalDecision,
    ApprovalRequest,
    ExecutionTrace,
)
from agentic_django.runtime import tool
from agentic_django.services.approvals import fingerprint

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/agentic_django/approvalrequest/"
REFUNDS: list[tuple[int, float]] = []
MANAGERS = ApprovalWorkflow([ApprovalRule(name="managers", approvers=["group:managers"])])


@tool(requires_approval=True)
def admin_refund(order_id: int, amount: float) -> dict:
    """Refund part of an order."""
    REFUNDS.append((order_id, amount))
    return {"refunded": amount, "order_id": order_id}


@pytest.fixture(autouse=True)
def _reset():
    REFUNDS.clear()


@pytest.fixture(autouse=True)
def endpoints(site, mock_llm):
    """A codegen endpoint (for stored ``code`` requests) and a loop with a paused tool."""

    @site.agent_endpoint("totals", codegen=True, approval=MANAGERS)
    async def totals(intent, context):
        return {"orders": []}

    @site.agent_endpoint("support", tools=[admin_refund], approval=MANAGERS)
    async def support(intent):
        return None


def permission(codename):
    return Permission.objects.get(codename=codename)


@pytest.fixture
def requester(user):
    """alice: staff, may view approval requests (her own only, as she cannot approve)."""
    user.is_staff = True
    user.save()
    user.user_permissions.add(permission("view_approvalrequest"))
    return user


@pytest.fixture
def manager(django_user_model):
    """Staff in ``managers``, which holds the approve permission (and nothing else)."""
    user = django_user_model.objects.create_user("manager", password="pw", is_staff=True)
    group = Group.objects.create(name="managers")
    group.permissions.add(permission("approve_approvalrequest"))
    user.groups.add(group)
    return user


@pytest.fixture
def ops(django_user_model):
    """Unrelated staff with only the view permission."""
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(permission("view_approvalrequest"))
    return user


def make_request(
    requested_by,
    *,
    code="result = 1",
    summary="Run generated code",
    approvers=("group:managers",),
    status="pending",
    age=timedelta(0),
    expires_in=timedelta(hours=1),
    **fields,
):
    """A stored ``code`` request on ``totals``, as the pipeline would have written it."""
    action = {
        "code": code,
        "data": {"orders": [{"id": 1, "total": 4.5}]},
        "reasoning": "",
        "intent": {"raw": summary, "action": "read", "domain": "order", "parameters": {}},
    }
    now = timezone.now()
    request = ApprovalRequest.objects.create(
        kind="code",
        status=status,
        endpoint_name=fields.pop("endpoint_name", "totals"),
        requested_by=requested_by,
        rule_name="managers",
        approvers=list(approvers),
        summary=summary,
        action=action,
        fingerprint=fingerprint("code", action),
        created_at=now - age,
        expires_at=now - age + expires_in,
        **fields,
    )
    ApprovalApprover.objects.bulk_create(
        ApprovalApprover(request=request, entry=entry) for entry in approvers
    )
    return request


def change_url(request):
    return f"{LIST_URL}{request.pk}/change/"


def decide_url(request):
    return f"{LIST_URL}{request.pk}/decide/"


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def pause_a_refund(client, requester, mock_llm):
    """Go through HTTP: the loop stops before ``admin_refund`` and stores a request."""
    client.force_login(requester)
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="admin_refund", arguments={"order_id": 7, "amount": 5.0})
    )
    response = client.post(
        "/agents/support/",
        json.dumps({"intent": "refund 5 on order 7"}),
        content_type="application/json",
    )
    assert response.status_code == 202, response.json()
    return ApprovalRequest.objects.get(request_id=response.json()["approval_request"]["id"])


# --- the list ---------------------------------------------------------------------------


def test_the_list_shows_pending_first_and_only_what_each_user_may_see(
    client, requester, manager, ops, other_user
):
    older = make_request(requester, summary="older pending", age=timedelta(hours=2))
    done = make_request(requester, summary="already executed", status="executed")
    newer = make_request(requester, summary="newer pending", age=timedelta(minutes=3))
    finance = make_request(other_user, summary="for finance only", approvers=["group:finance"])

    client.force_login(manager)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    listed = [item.pk for item in response.context["cl"].result_list]
    assert listed == [newer.pk, older.pk, done.pk]
    content = response.content.decode()
    assert 'class="approval-pending"' in content
    assert "3\xa0minutes ago" in content and "already executed" in content
    assert finance.summary not in content
    # Approvers get the list without the view permission, and the actions.
    assert 'value="approve_selected"' in content and 'value="reject_selected"' in content

    client.force_login(requester)
    response = client.get(LIST_URL)
    assert [item.pk for item in response.context["cl"].result_list] == listed
    assert 'value="approve_selected"' not in response.content.decode()

    client.force_login(ops)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert client.get(change_url(newer)).status_code == 302  # "does not exist"


def test_a_superuser_sees_every_request(admin_client, requester, other_user):
    mine = make_request(requester, summary="mine")
    theirs = make_request(other_user, summary="theirs", approvers=["group:finance"])
    response = admin_client.get(LIST_URL)
    assert {item.pk for item in response.context["cl"].result_list} == {mine.pk, theirs.pk}


def test_the_list_filters_and_searches(client, requester, manager):
    pending = make_request(requester, summary="count the orders")
    make_request(requester, summary="sum the refunds", status="rejected", endpoint_name="refunds")
    client.force_login(manager)

    def summaries(query):
        response = client.get(f"{LIST_URL}?{query}")
        assert response.status_code == 200
        return sorted(item.summary for item in response.context["cl"].result_list)

    assert summaries("status__exact=pending") == ["count the orders"]
    assert summaries("endpoint_name=refunds") == ["sum the refunds"]
    assert summaries("kind__exact=tool_call") == []
    assert summaries("q=refunds") == ["sum the refunds"]
    assert summaries(f"q={pending.request_id}") == ["count the orders"]
    # The endpoint filter offers only endpoints of visible requests.
    filters = client.get(LIST_URL).content.decode()
    assert "?endpoint_name=refunds" in filters and "?endpoint_name=totals" in filters


def test_the_list_makes_a_bounded_number_of_queries(
    client, admin_client, requester, manager, django_assert_max_num_queries
):
    for index in range(8):
        make_request(requester, summary=f"request {index}", status="pending")
    client.force_login(manager)
    with django_assert_max_num_queries(10):
        assert client.get(LIST_URL).status_code == 200
    with django_assert_max_num_queries(8):
        assert admin_client.get(LIST_URL).status_code == 200


# --- the detail page --------------------------------------------------------------------


def test_the_detail_page_shows_the_code_escaped_and_highlighted(client, requester, manager):
    code = (
        'cheap = [o for o in data["orders"] if o["total"] < 5]  # <b>not bold</b>\nresult = cheap'
    )
    request = make_request(requester, code=code)
    client.force_login(manager)
    response = client.get(change_url(request))
    assert response.status_code == 200
    content = response.content.decode()
    assert '<pre class="approval-code"><code class="language-python">' in content
    assert '<span class="tok-kw">for</span>' in content
    assert '<span class="tok-string">&quot;orders&quot;</span>' in content
    assert '<span class="tok-comment"># &lt;b&gt;not bold&lt;/b&gt;</span>' in content
    assert "&lt; <span" in content and "<b>not bold" not in content
    # The data as a table, the intent, the rule, a link to the trace-less request.
    assert "<th>orders</th>" in content and "&quot;total&quot;: 4.5" in content
    assert "<code>group:managers</code>" in content
    # The manager may decide it: the form is there, and nothing is editable.
    assert f'action="{decide_url(request)}"' in content
    assert 'value="approve"' in content and 'value="reject"' in content
    assert 'name="_save"' not in content


def test_a_paused_tool_call_is_approved_from_its_page_and_runs_once(
    client, requester, manager, mock_llm
):
    request = pause_a_refund(client, requester, mock_llm)
    client.force_login(manager)
    page = client.get(change_url(request)).content.decode()
    assert "<code>admin_refund</code>" in page
    assert "<th>order_id</th><td><pre>7</pre></td>" in page
    assert "<th>amount</th><td><pre>5.0</pre></td>" in page
    trace_url = f"/admin/agentic_django/executiontrace/{request.trace_id}/change/"
    assert trace_url in page

    mock_llm.add_response("Refunded 5.00 on order 7.")
    response = client.post(decide_url(request), {"decision": "approve", "reason": "fine"})
    assert response.status_code == 302 and response.url == change_url(request)
    assert messages_of(response) == [
        ("success", f"Approved {request.request_id[:12]}; it was carried out.")
    ]
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.reason) == ("executed", manager, "fine")
    assert request.result == "Refunded 5.00 on order 7."
    assert REFUNDS == [(7, 5.0)]
    carried = ExecutionTrace.objects.get(approval_request=request)
    assert carried.user == requester

    page = client.get(change_url(request)).content.decode()
    assert 'id="approval-decision"' not in page  # decided: no more buttons
    assert f"/admin/agentic_django/executiontrace/{carried.pk}/change/" in page
    assert "Refunded 5.00 on order 7." in page and "fine" in page

    # Rejecting it now is a conflict: a message, not a 500, and nothing runs again.
    response = client.post(decide_url(request), {"decision": "reject"})
    assert response.status_code == 302
    assert messages_of(response) == [
        ("error", f"Approval request {request.request_id} is already executed.")
    ]
    assert REFUNDS == [(7, 5.0)]


def test_a_request_is_rejected_with_a_reason(client, requester, manager):
    request = make_request(requester)
    client.force_login(manager)
    response = client.post(decide_url(request), {"decision": "reject", "reason": "too risky"})
    assert messages_of(response) == [("success", f"Rejected {request.request_id[:12]}.")]
    request.refresh_from_db()
    assert (request.status, request.reason, request.executed_at) == ("rejected", "too risky", None)
    decision = ApprovalDecision.objects.get(request=request)
    assert (decision.user, decision.approve, decision.approver) == (
        manager,
        False,
        "group:managers",
    )
    page = client.get(change_url(request)).content.decode()
    assert "too risky" in page and "group:managers" in page  # the decision, inline


def test_without_the_permission_there_are_no_buttons_and_the_post_is_forbidden(
    client, requester, manager, ops
):
    request = make_request(requester)
    client.force_login(requester)  # may read her own request, may not decide it
    page = client.get(change_url(request))
    assert page.status_code == 200
    assert 'id="approval-decision"' not in page.content.decode()
    # No buttons, and the page says why.
    assert "You cannot decide this request: you lack the approve permission." in (
        page.content.decode()
    )
    assert client.post(decide_url(request), {"decision": "approve"}).status_code == 403

    client.force_login(ops)
    assert client.post(decide_url(request), {"decision": "approve"}).status_code == 403
    request.refresh_from_db()
    assert request.status == "pending" and not request.decisions.exists()

    # The permission without being among the approvers is not enough either.
    finance = make_request(requester, approvers=["group:finance"])
    client.force_login(manager)
    assert client.post(decide_url(finance), {"decision": "approve"}).status_code == 403
    # Nor is it for one's own request.
    own = make_request(manager)
    own_page = client.get(change_url(own)).content.decode()
    assert 'id="approval-decision"' not in own_page
    assert "You cannot decide this request: your own request." in own_page
    assert client.post(decide_url(own), {"decision": "approve"}).status_code == 403


def test_deciding_needs_a_post_with_a_valid_decision_and_a_csrf_token(requester, manager):
    request = make_request(requester)
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.get(decide_url(request)).status_code == 405
    assert client.post(decide_url(request), {"decision": "approve"}).status_code == 403
    page = client.get(change_url(request))
    token = page.cookies["csrftoken"].value
    bad = client.post(decide_url(request), {"decision": "maybe", "csrfmiddlewaretoken": token})
    assert bad.status_code == 400
    request.refresh_from_db()
    assert request.status == "pending"


def test_an_expired_request_cannot_be_approved(client, requester, manager):
    request = make_request(requester, age=timedelta(hours=2), expires_in=timedelta(hours=1))
    client.force_login(manager)
    listing = client.get(LIST_URL).content.decode()
    assert "expired" in listing and 'class="approval-pending"' not in listing
    page = client.get(change_url(request)).content.decode()
    assert 'id="approval-decision"' not in page
    response = client.post(decide_url(request), {"decision": "approve"})
    assert response.status_code == 302
    [(level, text)] = messages_of(response)
    assert level == "error" and "expired" in text
    request.refresh_from_db()
    assert request.status == "expired" and request.decided_by is None


def test_a_workflow_step_shows_its_pending_steps_and_state(client, requester, manager):
    checkpoint = {
        "workflow": "onboarding",
        "pending": ["grant_access"],
        "completed_steps": ["create_account"],
        "state": {"email": "<new@example.com>", "groups": ["staff"]},
        "reason": "Grant access to the ledger",
    }
    action = {"workflow": "onboarding", "checkpoint": checkpoint, "intent": {"raw": "onboard"}}
    request = make_request(requester)
    request.kind, request.action = "workflow", action
    request.fingerprint = fingerprint("workflow", action)
    request.save()
    client.force_login(manager)
    content = client.get(change_url(request)).content.decode()
    assert "<ol><li><code>grant_access</code></li></ol>" in content
    assert "<code>create_account</code>" in content
    assert "Grant access to the ledger" in content
    assert "<th>email</th><td><pre>&quot;&lt;new@example.com&gt;&quot;</pre></td>" in content


def test_a_large_workflow_state_is_a_table_with_long_values_folded(client, requester, manager):
    rows = [{"id": n, "total": n * 1.5} for n in range(40)]
    state = {"orders": rows, "customer": "ada", **{f"note_{n}": n for n in range(20)}}
    checkpoint = {"workflow": "audit", "pending": ["refund"], "state": state}
    action = {"workflow": "audit", "checkpoint": checkpoint, "intent": {"raw": "audit"}}
    request = make_request(requester)
    request.kind, request.action = "workflow", action
    request.fingerprint = fingerprint("workflow", action)
    request.save()
    client.force_login(manager)
    content = client.get(change_url(request)).content.decode()
    # A table, not a JSON dump; the 22 entries fold as a whole, the 40 orders on their own.
    assert '<details class="approval-fold"><summary>22 entries</summary>' in content
    assert "<th>customer</th><td><pre>&quot;ada&quot;</pre></td>" in content
    assert (
        '<th>orders</th><td><details class="approval-fold"><summary>40 items</summary>' in content
    )


def test_when_every_approver_must_agree_one_approval_waits_for_the_others(
    client, requester, manager
):
    request = make_request(
        requester, approvers=("group:managers", "user:boss"), require_all_approvers=True
    )
    client.force_login(manager)
    response = client.post(decide_url(request), {"decision": "approve", "reason": "ok by me"})
    assert messages_of(response) == [
        (
            "info",
            f"Your approval of {request.request_id[:12]} is recorded; "
            "it waits for the other approvers.",
        )
    ]
    request.refresh_from_db()
    assert request.status == "pending" and request.decisions.get().reason == "ok by me"


def test_the_detail_page_makes_a_bounded_number_of_queries(
    client, requester, manager, mock_llm, django_assert_max_num_queries
):
    request = pause_a_refund(client, requester, mock_llm)
    client.force_login(manager)
    with django_assert_max_num_queries(12):
        assert client.get(change_url(request)).status_code == 200
    mock_llm.add_response("Refunded.")
    client.post(decide_url(request), {"decision": "approve"})
    with django_assert_max_num_queries(12):
        assert client.get(change_url(request)).status_code == 200


# --- list actions -----------------------------------------------------------------------


def test_the_approve_action_decides_several_and_reports_the_rest(client, requester, manager):
    first = make_request(requester, summary="first", code="result = 1")
    second = make_request(requester, summary="second", code="result = 2")
    own = make_request(manager, summary="the manager's own")
    done = make_request(requester, summary="done", status="executed")
    rejected = make_request(requester, summary="rejected", status="rejected")
    expired = make_request(requester, age=timedelta(hours=2), expires_in=timedelta(hours=1))
    client.force_login(manager)
    selected = [first, second, own, done, rejected, expired]
    response = client.post(
        LIST_URL,
        {"action": "approve_selected", "_selected_action": [item.pk for item in selected]},
    )
    assert response.status_code == 302
    reported = messages_of(response)
    assert reported[:2] == [
        ("success", "Approved 2 requests."),
        ("warning", "Skipped 2 requests (1 already decided; 1 your own request)."),
    ]
    assert sorted(reported[2:]) == sorted(
        [
            ("error", f"Approval request {rejected.request_id} is already rejected."),
            (
                "error",
                f"Approval request {expired.request_id} expired at "
                f"{expired.expires_at.isoformat()}.",
            ),
        ]
    )
    results = {item.summary: item for item in ApprovalRequest.objects.all()}
    assert (results["first"].status, results["first"].result) == ("executed", 1)
    assert (results["second"].status, results["second"].result) == ("executed", 2)
    assert results["the manager's own"].status == "pending"
    assert results["rejected"].status == "rejected"


def test_the_reject_action_and_who_may_use_it(client, requester, manager):
    first = make_request(requester, summary="first")
    client.force_login(requester)
    action = {"action": "reject_selected", "_selected_action": [first.pk]}
    client.post(LIST_URL, action)
    first.refresh_from_db()
    assert first.status == "pending"  # no permission: the action is not even offered

    client.force_login(manager)
    response = client.post(LIST_URL, action)
    assert messages_of(response) == [("success", "Rejected 1 request.")]
    first.refresh_from_db()
    assert (first.status, first.decided_by) == ("rejected", manager)
