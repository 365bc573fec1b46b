"""Deleting audit records in admin: superusers only, and only what retention releases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from agentic_django.models import ApprovalRequest, ExecutionTrace, LLMCall

pytestmark = pytest.mark.django_db

TRACES = "/admin/agentic_django/executiontrace/"
CALLS = "/admin/agentic_django/llmcall/"
APPROVALS = "/admin/agentic_django/approvalrequest/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_trace(age: timedelta) -> ExecutionTrace:
    trace = ExecutionTrace.objects.create(endpoint_name="orders", intent_raw="show my orders")
    ExecutionTrace.objects.filter(pk=trace.pk).update(created_at=timezone.now() - age)
    LLMCall.objects.create(trace=trace, endpoint_name="orders", provider="mock", model="m")
    return trace


def make_approval(status: str) -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        kind="code",
        status=status,
        endpoint_name="orders",
        action={"code": "result = 1"},
        expires_at=timezone.now() + timedelta(hours=1),
    )


def test_staff_with_every_delete_permission_still_cannot_delete_audit_records(
    client, django_user_model
):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                f"{verb}_{model}"
                for verb in ("view", "delete")
                for model in ("executiontrace", "llmcall", "approvalrequest")
            ]
        )
    )
    client.force_login(staff)
    old = make_trace(timedelta(days=400))
    closed = make_approval("rejected")
    assert client.get(f"{TRACES}{old.pk}/delete/").status_code == 403
    assert client.get(f"{CALLS}{old.llm_calls.get().pk}/delete/").status_code == 403
    assert client.get(f"{APPROVALS}{closed.pk}/delete/").status_code == 403
    assert "delete_selected" not in client.get(TRACES).content.decode()


def test_a_superuser_deletes_only_what_retention_releases(admin_client):
    fresh = make_trace(timedelta(days=1))
    old = make_trace(timedelta(days=400))
    # Inside the retention period: evidence, even for a superuser.
    assert admin_client.get(f"{TRACES}{fresh.pk}/delete/").status_code == 403
    assert admin_client.get(f"{CALLS}{fresh.llm_calls.get().pk}/delete/").status_code == 403
    # Past it: the trace goes, with its LLM calls.
    response = admin_client.post(f"{TRACES}{old.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert list(ExecutionTrace.objects.all()) == [fresh]
    assert LLMCall.objects.get().trace == fresh


def test_a_bulk_delete_with_a_retained_record_is_refused_whole(admin_client):
    fresh = make_trace(timedelta(days=1))
    old = make_trace(timedelta(days=400))
    selected = {"action": "delete_selected", "_selected_action": [fresh.pk, old.pk]}
    assert admin_client.post(TRACES, {**selected, "post": "yes"}).status_code == 403
    assert ExecutionTrace.objects.count() == 2
    only_old = {"action": "delete_selected", "_selected_action": [old.pk], "post": "yes"}
    assert admin_client.post(TRACES, only_old).status_code == 302
    assert list(ExecutionTrace.objects.all()) == [fresh]


def test_no_one_deletes_an_open_approval_request(admin_client):
    pending = make_approval("pending")
    closed = make_approval("rejected")
    assert admin_client.get(f"{APPROVALS}{pending.pk}/delete/").status_code == 403
    assert admin_client.post(f"{APPROVALS}{closed.pk}/delete/", {"post": "yes"}).status_code == 302
    assert list(ApprovalRequest.objects.all()) == [pending]
