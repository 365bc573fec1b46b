"""``POST /agents/runs/<run_id>/resume/``: who may decide a run's mid-stream approval, and how.

Also escalation (``autonomy_changed`` takes the decision away from the run's
owner) and approvals nobody decides in time (the default applies, the request
expires).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from agentic_django.models import AgentRun, ApprovalKind, ApprovalRequest, ApprovalStatus, RunStatus
from agentic_django.services import runs

from .asgi_client import (
    Event,
    HttpStream,
    assert_contiguous,
    open_request,
    post,
    settle_runs,
    token_header,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _settle(close_worker_connections):
    yield
    await settle_runs()


def grant_approve(user) -> None:
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="agentic_django", codename="approve_approvalrequest"
        )
    )


@pytest.fixture
def token(user):
    return Token.objects.create(user=user).key


@pytest.fixture
def other_token(other_user):
    return Token.objects.create(user=other_user).key


@pytest.fixture
def approver_token(django_user_model):
    approver = django_user_model.objects.create_user(username="carol", password="pw-carol")
    grant_approve(approver)
    return Token.objects.create(user=approver).key


class Asked:
    """A run that streamed up to its ``approval_requested`` event."""

    def __init__(self, stream: HttpStream, before: list[Event]) -> None:
        self.stream = stream
        self.before = before
        self.run_id = stream.header("x-agent-run-id")
        self.event = before[-1]
        self.approval_id = self.event.data["approval_id"]

    async def rest(self) -> list[Event]:
        """The events after the question, to the end of the stream."""
        rest = await self.stream.read_events()
        await self.stream.close()
        assert_contiguous(self.before + rest)
        return rest


async def ask(key: str, intent: str = "refund please", endpoint: str = "ask") -> Asked:
    stream = await open_request(
        "POST", f"/agents/{endpoint}/stream/", body={"intent": intent}, headers=token_header(key)
    )
    await stream.start()
    assert stream.status == 200
    return Asked(stream, await stream.read_until("approval_requested"))


async def resume(run_id: str, body: dict, key: str | None = None):
    return await post(
        f"/agents/runs/{run_id}/resume/", body, headers=token_header(key) if key else None
    )


async def approval(request_id: str) -> ApprovalRequest:
    return await ApprovalRequest.objects.select_related("decided_by", "run").aget(
        request_id=request_id
    )


def assert_error(response, status: int, code: str) -> dict:
    assert response.status == status, response.body
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == code
    return body


# --- the run's owner --------------------------------------------------------------------


async def test_owner_approves(user, token):
    asked = await ask(token)
    stored = await approval(asked.approval_id)
    assert stored.kind == ApprovalKind.STREAM
    assert stored.status == ApprovalStatus.PENDING
    assert stored.run.run_id == asked.run_id
    assert stored.requested_by_id == user.pk

    response = await resume(asked.run_id, {"decision": "approve"}, token)

    assert response.status == 200, response.body
    assert response.json() == {
        "run_id": asked.run_id,
        "approval_id": asked.approval_id,
        "status": "approved",
        "decision": "approve",
    }
    rest = await asked.rest()
    assert [event.kind for event in rest] == ["approval_resolved", "final"]
    assert rest[0].data["decision"] == "approve"
    assert rest[0].data["decided_by"] == "alice"
    assert rest[0].data["timed_out"] is False
    assert rest[-1].data["result"] == {"decision": "approve"}
    stored = await approval(asked.approval_id)
    assert stored.status == ApprovalStatus.APPROVED
    assert stored.decided_by_id == user.pk
    assert stored.result == {"decision": "approve"}
    await runs.wait_local(asked.run_id)
    assert (await AgentRun.objects.aget(run_id=asked.run_id)).status == RunStatus.COMPLETED


async def test_owner_rejects_with_a_reason(user, token):
    asked = await ask(token)

    response = await resume(
        asked.run_id,
        {"decision": "reject", "reason": "not today", "approval_id": asked.approval_id},
        token,
    )

    assert response.status == 200, response.body
    assert response.json()["status"] == "rejected"
    assert response.json()["decision"] == "reject"
    rest = await asked.rest()
    resolved = rest[0].data
    assert resolved["decision"] == "reject"
    assert resolved["reason"] == "not today"
    assert resolved["timed_out"] is False
    assert rest[-1].data["result"] == {"decision": "reject"}
    assert (await approval(asked.approval_id)).status == ApprovalStatus.REJECTED


async def test_deciding_twice_is_409(token):
    asked = await ask(token)
    assert (await resume(asked.run_id, {"decision": "approve"}, token)).status == 200

    again = await resume(
        asked.run_id, {"decision": "reject", "approval_id": asked.approval_id}, token
    )

    assert_error(again, 409, "approval_state")
    rest = await asked.rest()
    assert rest[-1].data["result"] == {"decision": "approve"}
    assert (await approval(asked.approval_id)).status == ApprovalStatus.APPROVED


async def test_no_pending_approval_left_is_404(token):
    asked = await ask(token)
    assert (await resume(asked.run_id, {"decision": "approve"}, token)).status == 200
    await asked.rest()

    # Without approval_id the run's single pending request is meant: there is none.
    assert_error(await resume(asked.run_id, {"decision": "approve"}, token), 404, "not_found")


async def test_a_decision_not_in_the_options_is_400(token):
    asked = await ask(token)

    response = await resume(asked.run_id, {"decision": "maybe"}, token)

    body = assert_error(response, 400, "invalid_request")
    assert "decision" in body["errors"]
    assert (await approval(asked.approval_id)).status == ApprovalStatus.PENDING
    assert (await resume(asked.run_id, {"decision": "approve"}, token)).status == 200
    await asked.rest()


async def test_missing_decision_is_400(token):
    asked = await ask(token)
    body = assert_error(await resume(asked.run_id, {}, token), 400, "invalid_request")
    assert "decision" in body["errors"]
    assert (await resume(asked.run_id, {"decision": "approve"}, token)).status == 200
    await asked.rest()


# --- everyone else ----------------------------------------------------------------------


async def test_another_user_who_may_not_see_the_run_gets_the_404_of_an_unknown_run(
    token, other_token
):
    asked = await ask(token)

    response = await resume(asked.run_id, {"decision": "approve"}, other_token)

    # Answering 403 here would confirm that the run exists.
    assert_error(response, 404, "not_found")
    unknown = await resume("doesnotexist", {"decision": "approve"}, other_token)
    assert response.body == unknown.body
    assert (await approval(asked.approval_id)).status == ApprovalStatus.PENDING
    assert (await resume(asked.run_id, {"decision": "reject"}, token)).status == 200
    await asked.rest()


async def test_anonymous_is_401(token):
    asked = await ask(token)

    response = await resume(asked.run_id, {"decision": "approve"})

    assert_error(response, 401, "not_authenticated")
    assert response.header("www-authenticate") == "Token"
    assert (await approval(asked.approval_id)).status == ApprovalStatus.PENDING
    assert (await resume(asked.run_id, {"decision": "approve"}, token)).status == 200
    await asked.rest()


async def test_an_approver_may_decide_someone_elses_run(token, approver_token):
    asked = await ask(token)

    response = await resume(asked.run_id, {"decision": "approve"}, approver_token)

    assert response.status == 200, response.body
    rest = await asked.rest()
    assert rest[0].data["decided_by"] == "carol"
    assert rest[-1].data["result"] == {"decision": "approve"}
    assert (await approval(asked.approval_id)).decided_by.username == "carol"


async def test_an_approver_of_the_pending_request_may_read_the_run(token, approver_token):
    asked = await ask(token)

    follower = await open_request(
        "GET", f"/agents/runs/{asked.run_id}/events/", headers=token_header(approver_token)
    )
    await follower.start()
    assert follower.status == 200
    # The approver reads up to the question, the context they decide on.
    seen = await follower.read_until("approval_requested")
    await follower.close()
    assert [event.seq for event in seen] == [event.seq for event in asked.before]
    assert (await resume(asked.run_id, {"decision": "reject"}, token)).status == 200
    await asked.rest()


async def test_unknown_run_is_404(token):
    response = await resume("doesnotexist", {"decision": "approve"}, token)
    assert_error(response, 404, "not_found")


async def test_unknown_approval_on_a_real_run_is_404(token):
    asked = await ask(token)

    response = await resume(
        asked.run_id, {"decision": "approve", "approval_id": "doesnotexist"}, token
    )

    assert_error(response, 404, "not_found")
    assert (await approval(asked.approval_id)).status == ApprovalStatus.PENDING
    assert (await resume(asked.run_id, {"decision": "approve"}, token)).status == 200
    await asked.rest()


async def test_an_approval_of_another_run_is_404(token):
    first = await ask(token)
    second = await ask(token)

    response = await resume(
        first.run_id, {"decision": "approve", "approval_id": second.approval_id}, token
    )

    assert_error(response, 404, "not_found")
    assert (await approval(first.approval_id)).status == ApprovalStatus.PENDING
    assert (await approval(second.approval_id)).status == ApprovalStatus.PENDING
    for asked in (first, second):
        assert (await resume(asked.run_id, {"decision": "approve"}, token)).status == 200
        await asked.rest()


# --- escalation -------------------------------------------------------------------------


async def test_escalation_takes_the_decision_away_from_the_owner(user, token, approver_token):
    asked = await ask(token, intent="not so", endpoint="escalating")

    assert asked.stream.header("content-type") == "application/x-ndjson"
    assert [event.kind for event in asked.before] == ["autonomy_changed", "approval_requested"]
    changed = asked.before[0].data
    assert changed["previous"] == "auto"
    assert changed["current"] == "supervised"
    assert changed["requires_approval"] is True
    assert changed["rules"] == ["unsure"]
    stored = await approval(asked.approval_id)
    assert stored.action["owner_may_decide"] is False

    refused = await resume(asked.run_id, {"decision": "approve"}, token)
    assert_error(refused, 403, "permission_denied")
    assert (await approval(asked.approval_id)).status == ApprovalStatus.PENDING

    accepted = await resume(asked.run_id, {"decision": "approve"}, approver_token)
    assert accepted.status == 200, accepted.body
    rest = await asked.rest()
    assert [event.kind for event in rest] == ["approval_resolved", "final"]
    assert rest[0].data["decided_by"] == "carol"
    assert rest[-1].data["result"] == {"sent": True, "level": "supervised"}


@pytest.fixture
def owner_may_approve(user):
    grant_approve(user)


async def test_escalated_owner_with_the_permission_still_may_not_decide(owner_may_approve, token):
    asked = await ask(token, intent="not so", endpoint="escalating")

    refused = await resume(asked.run_id, {"decision": "approve"}, token)

    assert_error(refused, 403, "permission_denied")
    runs.cancel_local(asked.run_id)
    await runs.wait_local(asked.run_id)


async def test_escalated_approver_rejects(token, approver_token):
    asked = await ask(token, intent="not so", endpoint="escalating")
    assert (await resume(asked.run_id, {"decision": "reject"}, approver_token)).status == 200
    rest = await asked.rest()
    assert rest[-1].data["result"] == {"sent": False, "level": "supervised"}


async def test_no_escalation_no_approval(token):
    response = await post(
        "/agents/escalating/stream/", {"intent": "i am sure"}, headers=token_header(token)
    )

    events = response.ndjson()
    kinds = [event.kind for event in events]
    assert "autonomy_changed" not in kinds
    assert "approval_requested" not in kinds
    assert kinds == ["final"]
    assert events[-1].data["result"] == {"sent": True, "level": "auto"}
    run_id = response.header("x-agent-run-id")
    assert not await ApprovalRequest.objects.filter(run__run_id=run_id).aexists()


# --- nobody decides ---------------------------------------------------------------------


async def test_timeout_applies_the_default_and_expires_the_request(token):
    asked = await ask(token, intent="wait 1")
    assert asked.event.data["timeout_seconds"] == 1
    assert asked.event.data["default_decision"] == "reject"

    rest = await asked.rest()

    assert [event.kind for event in rest] == ["approval_resolved", "final"]
    resolved = rest[0].data
    assert resolved["timed_out"] is True
    assert resolved["decision"] == "reject"
    assert resolved["decided_by"] is None
    assert rest[-1].data["result"] == {"decision": "reject"}
    stored = await approval(asked.approval_id)
    assert stored.status == ApprovalStatus.EXPIRED
    assert stored.status != ApprovalStatus.REJECTED
    assert stored.decided_by is None
    assert stored.result == {"decision": "reject", "timed_out": True}

    late = await resume(
        asked.run_id, {"decision": "approve", "approval_id": asked.approval_id}, token
    )
    assert_error(late, 409, "approval_state")
    assert (await approval(asked.approval_id)).status == ApprovalStatus.EXPIRED
