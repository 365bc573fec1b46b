"""Durable approvals carried out by real Celery workers (Redis broker, PostgreSQL).

The "reports" endpoint (tests/testapp/agents.py) generates code that needs an
approver of the group ``approvers`` before it runs. The test process makes the
request (the code comes from a mock LLM and is stored with the request), an
approver decides over HTTP, and a worker process carries the code out: it needs
no LLM, only the database and the broker. Every wait polls the database and
stops at a deadline; nothing asserts how long anything took.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from agentic_django import AgentTasks
from agentic_django.models import ApprovalDecision, ApprovalRequest, ExecutionTrace
from agentic_django.testing import use_llm
from tests.testapp.agents import REPORTS, record_group

from .conftest import redis_client, services_missing, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(services_missing()), reason=services_missing() or "-"),
    pytest.mark.django_db(transaction=True),
]

TOTAL = "result = sum(r['total'] for r in data['reports'])"
EXPECTED_TOTAL = sum(r["total"] for r in REPORTS)
#: Busy for about three seconds of wall clock (and at most as much CPU): well inside
#: the sandbox's default limits (5 s CPU, 10 s wall), long enough to be caught running.
SLOW = """import datetime
start = datetime.datetime.now()
spins = 0
while (datetime.datetime.now() - start).total_seconds() < 3:
    spins += 1
result = {"slow": True, "count": len(data['reports'])}
"""


@pytest.fixture
def approver_group():
    group, _ = Group.objects.get_or_create(name="approvers")
    group.permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    return group


@pytest.fixture
def approver(django_user_model, approver_group):
    user = django_user_model.objects.create_user("approver", password="pw", is_staff=True)
    user.groups.add(approver_group)
    return user


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def decision_url(request: ApprovalRequest) -> str:
    return f"/agents/approvals/{request.request_id}/decision/"


def ask_for_report(client, requester, mock_llm, code=TOTAL) -> ApprovalRequest:
    """The requester asks; the generated code is stored for approval (202)."""
    client.force_login(requester)
    mock_llm.add_structured_response({"code": code, "reasoning": "from data", "confidence": 0.9})
    with use_llm(mock_llm, "reports"):
        response = post(client, "/agents/reports/", {"intent": "show the quarterly report"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending_approval"
    request = ApprovalRequest.objects.get(request_id=body["approval_request"]["id"])
    stored = (request.status, request.kind, request.action["code"])
    assert stored == ("pending", "code", code.strip())
    return request


def status_of(request: ApprovalRequest) -> str:
    request.refresh_from_db()
    return request.status


def carried_out(request: ApprovalRequest):
    return ExecutionTrace.objects.filter(approval_request=request)


def wait_until_done(request: ApprovalRequest, *workers) -> ApprovalRequest:
    wait_for(
        lambda: status_of(request) in ("executed", "failed"),
        f"approval request {request.request_id} to be carried out (status {request.status})",
        workers=workers,
    )
    return request


def wait_until_drained(*workers) -> None:
    """Every message sent so far was consumed and, for acks_late tasks, finished."""
    broker = redis_client()
    try:
        wait_for(
            lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0,
            "the workers to finish every message on the broker",
            workers=workers,
        )
    finally:
        broker.close()


def assert_executed_once(request: ApprovalRequest, *, result, attempts: int) -> None:
    request.refresh_from_db()
    assert request.status == "executed", (request.status, request.error)
    assert request.result == result
    assert request.attempts == attempts
    assert request.executed_at is not None and request.lease_expires_at is None
    [trace] = carried_out(request)
    assert trace.status == "completed", (trace.error_type, trace.error)
    assert trace.result == result
    assert trace.generated_code == request.action["code"]
    assert trace.user_id == request.requested_by_id


def test_an_approved_report_is_carried_out_by_a_worker(
    client, user, approver, mock_llm, start_worker
):
    worker = start_worker()
    request = ask_for_report(client, user, mock_llm)

    client.force_login(approver)
    decided = post(client, decision_url(request), {"decision": "approve", "reason": "fine"})
    assert decided.status_code == 200, decided.json()
    # The web process only decided; the worker carries it out.
    assert decided.json()["status"] in ("approved", "executing", "executed")

    wait_until_done(request, worker)
    assert_executed_once(request, result=EXPECTED_TOTAL, attempts=1)
    assert (request.decided_by, request.reason) == (approver, "fine")
    assert mock_llm.call_count == 1  # the worker ran the stored code, no LLM
    client.force_login(user)
    followed = client.get(f"/agents/approvals/{request.request_id}/").json()
    assert (followed["status"], followed["result"]) == ("executed", EXPECTED_TOTAL)


def test_ten_approvers_at_once_and_duplicate_deliveries_execute_once(
    client, user, approver_group, django_user_model, mock_llm, start_worker, celery_app
):
    worker = start_worker()
    request = ask_for_report(client, user, mock_llm)
    approvers = []
    for n in range(10):
        person = django_user_model.objects.create_user(f"approver{n}", password="pw")
        person.groups.add(approver_group)
        approvers.append(person)

    barrier = threading.Barrier(len(approvers))
    answers: list[int] = []
    errors: list[BaseException] = []

    def approve(person) -> None:
        try:
            own = Client()
            own.force_login(person)
            barrier.wait(timeout=60)
            answers.append(post(own, decision_url(request), {"decision": "approve"}).status_code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # this thread's connection; the test DB is dropped later

    threads = [threading.Thread(target=approve, args=(p,)) for p in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(answers) == [200] * len(approvers)

    # At-least-once delivery: the same message again, several times, changes nothing.
    from agentic_django.tasks import execute_approved

    for _ in range(5):
        execute_approved.delay(request.pk)

    wait_until_done(request, worker)
    wait_until_drained(worker)
    assert_executed_once(request, result=EXPECTED_TOTAL, attempts=1)
    # One decision was recorded; the other nine found it approved already.
    [decision] = ApprovalDecision.objects.filter(request=request)
    assert decision.approve and decision.user == request.decided_by
    assert request.decided_by in approvers


def test_a_worker_killed_mid_execution_is_taken_over_after_its_lease(
    client, user, approver, mock_llm, start_worker
):
    first = start_worker(lease_seconds=2)
    request = ask_for_report(client, user, mock_llm, code=SLOW)
    client.force_login(approver)
    assert post(client, decision_url(request), {"decision": "approve"}).status_code == 200

    wait_for(
        lambda: status_of(request) == "executing",
        "the first worker to claim the request",
        workers=(first,),
    )
    first.kill()

    request.refresh_from_db()
    assert request.status == "executing", "the first worker finished before it was killed"
    assert request.attempts == 1 and not carried_out(request).exists()
    lease = request.lease_expires_at
    assert lease is not None
    wait_for(lambda: timezone.now() > lease, "the dead worker's lease to lapse")

    second = start_worker(lease_seconds=2)
    from agentic_django.tasks import requeue_stalled_approvals

    requeue_stalled_approvals.delay()

    wait_until_done(request, second)
    assert_executed_once(request, result={"slow": True, "count": len(REPORTS)}, attempts=2)


def test_an_expired_request_cannot_be_approved(client, user, approver, mock_llm, celery_app):
    request = ask_for_report(client, user, mock_llm)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(approver)
    response = post(client, decision_url(request), {"decision": "approve"})
    assert response.status_code == 409, response.json()
    request.refresh_from_db()
    assert request.status == "expired"
    assert request.decided_by is None and request.executed_at is None and request.attempts == 0
    assert not ApprovalDecision.objects.filter(request=request).exists()
    assert not carried_out(request).exists()
    broker = redis_client()
    try:
        assert broker.llen("celery") == 0, "something was sent to the workers"
    finally:
        broker.close()


def test_a_non_approver_can_neither_decide_nor_see_others_requests(
    client, user, other_user, approver, django_user_model, mock_llm, celery_app
):
    request = ask_for_report(client, user, mock_llm)
    detail = f"/agents/approvals/{request.request_id}/"

    # The requester follows the request but is no approver of it.
    client.force_login(user)
    assert client.get(detail).status_code == 200
    assert post(client, decision_url(request), {"decision": "approve"}).status_code == 403

    # Anyone else outside the group: as if it did not exist, even holding the permission.
    outsider_with_permission = django_user_model.objects.create_user("outsider", password="pw")
    outsider_with_permission.user_permissions.add(
        Permission.objects.get(codename="approve_approvalrequest")
    )
    for person in (other_user, outsider_with_permission):
        client.force_login(person)
        assert client.get("/agents/approvals/").json()["results"] == []
        assert client.get(detail).status_code == 404
        assert post(client, decision_url(request), {"decision": "approve"}).status_code == 404

    assert status_of(request) == "pending"
    assert not ApprovalDecision.objects.filter(request=request).exists()


def test_an_approval_from_the_admin_is_carried_out_by_a_worker(
    client, user, approver, mock_llm, start_worker
):
    request = ask_for_report(client, user, mock_llm)
    try:
        url = reverse("admin:agentic_django_approvalrequest_decide", args=[request.pk])
    except NoReverseMatch:
        pytest.skip("the admin has no approval decide view (admin:..._approvalrequest_decide)")
    worker = start_worker()
    client.force_login(approver)
    response = client.post(url, {"decision": "approve", "reason": "from the admin"})
    assert response.status_code in (200, 302), response.content[:500]

    wait_until_done(request, worker)
    assert_executed_once(request, result=EXPECTED_TOTAL, attempts=1)
    assert (request.decided_by, request.reason) == (approver, "from the admin")


def test_background_tasks_run_on_a_worker(client, site, start_worker, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default
    name = f"made-by-worker-{uuid.uuid4().hex[:8]}"

    @site.agent_endpoint("later")
    async def later(intent, context, tasks: AgentTasks):
        # Sent by dotted path: the worker imports tests.testapp.agents.record_group.
        tasks.add_task(record_group, name)
        return {"queued": True}

    worker = start_worker()
    response = post(client, "/agents/later/", {"intent": "do it later"})
    assert response.status_code == 200, response.json()
    wait_for(
        lambda: Group.objects.filter(name=name).exists(),
        f"the worker to run record_group({name!r})",
        workers=(worker,),
    )
