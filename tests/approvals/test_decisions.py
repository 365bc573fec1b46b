"""Deciding approval requests: the service rules, without running anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from agentic_django.core.exceptions import ApprovalStateError, PermissionDenied
from agentic_django.harness import ApprovalRule
from agentic_django.models import ApprovalRequest, ExecutionTrace
from agentic_django.services import approvals

pytestmark = pytest.mark.django_db


def pending(requester, **rule):
    trace = ExecutionTrace.objects.create(endpoint_name="reports", status="pending_approval")
    stored = approvals.PendingApproval(
        kind="code",
        rule=ApprovalRule(name="r", **rule),
        action={"code": "result = 1", "data": {}, "reasoning": ""},
        summary="run it",
    )
    return approvals.store(stored, trace=trace, session_pk=None, user_id=requester.pk)


def approver(django_user_model, name, *groups):
    user = django_user_model.objects.create_user(name, password="pw")
    user.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    for group in groups:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def test_a_decision_on_an_expired_request_is_refused_and_the_expiry_is_kept(
    user, django_user_model
):
    request = pending(user)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    manager = approver(django_user_model, "manager")
    with pytest.raises(ApprovalStateError, match="expired"):
        approvals.decide(request.request_id, manager, approve=True)
    request.refresh_from_db()
    assert request.status == "expired" and request.decided_by is None


def test_one_person_covering_every_entry_completes_a_require_all_request(user, django_user_model):
    request = pending(user, approvers=["group:finance", "group:legal"], require_all_approvers=True)
    both = approver(django_user_model, "both", "finance", "legal")
    assert approvals.decide(request.request_id, both, approve=True).status == "approved"


def test_require_all_waits_for_each_entry(user, django_user_model):
    request = pending(user, approvers=["group:finance", "group:legal"], require_all_approvers=True)
    finance = approver(django_user_model, "fin", "finance")
    legal = approver(django_user_model, "law", "legal")
    assert approvals.decide(request.request_id, finance, approve=True).status == "pending"
    # The same person again changes nothing.
    assert approvals.decide(request.request_id, finance, approve=True).status == "pending"
    assert approvals.decide(request.request_id, legal, approve=True).status == "approved"


def test_any_rejection_rejects_a_require_all_request(user, django_user_model):
    request = pending(user, approvers=["group:finance", "group:legal"], require_all_approvers=True)
    finance = approver(django_user_model, "fin", "finance")
    legal = approver(django_user_model, "law", "legal")
    approvals.decide(request.request_id, finance, approve=True)
    decided = approvals.decide(request.request_id, legal, approve=False, reason="no")
    assert (decided.status, decided.reason, decided.decided_by) == ("rejected", "no", legal)
    # The request is settled: agreeing with the outcome is a no-op, approving a conflict.
    assert approvals.decide(request.request_id, finance, approve=False).status == "rejected"
    with pytest.raises(ApprovalStateError):
        approvals.decide(request.request_id, finance, approve=True)


def test_requesters_cannot_approve_their_own_request_unless_the_rule_allows(django_user_model):
    requester = approver(django_user_model, "self")
    with pytest.raises(PermissionDenied):
        approvals.decide(pending(requester).request_id, requester, approve=True)
    allowed = pending(requester, allow_self_approval=True)
    assert approvals.decide(allowed.request_id, requester, approve=True).status == "approved"


def test_the_permission_is_needed_whatever_the_approver_entries(user, django_user_model):
    request = pending(user, approvers=["user:carol"])
    carol = django_user_model.objects.create_user("carol", password="pw")
    with pytest.raises(PermissionDenied):
        approvals.decide(request.request_id, carol, approve=True)
    carol.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    carol = django_user_model.objects.get(pk=carol.pk)  # drop the permission cache
    assert approvals.decide(request.request_id, carol, approve=True).status == "approved"


def test_perm_entries_match_by_permission(user, django_user_model):
    request = pending(user, approvers=["perm:auth.change_user"])
    plain = approver(django_user_model, "plain")
    with pytest.raises(PermissionDenied):
        approvals.decide(request.request_id, plain, approve=True)
    plain.user_permissions.add(Permission.objects.get(codename="change_user"))
    plain = django_user_model.objects.get(pk=plain.pk)
    assert approvals.decide(request.request_id, plain, approve=True).status == "approved"


def test_the_fingerprint_covers_what_runs():
    action = {"code": "result = 1", "data": {"a": 1}, "reasoning": "x"}
    same = approvals.fingerprint("code", {**action, "reasoning": "other words"})
    assert same == approvals.fingerprint("code", action)
    assert approvals.fingerprint("code", {**action, "data": {"a": 2}}) != same


def test_expire_due_marks_only_pending_requests_past_their_time(user):
    late = pending(user)
    on_time = pending(user)
    ApprovalRequest.objects.filter(pk=late.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert approvals.expire_due() == 1
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert (late.status, on_time.status) == ("expired", "pending")


def test_claims_are_exclusive_renewable_and_taken_over_only_after_their_lease(
    user, django_user_model
):
    from agentic_django.services import approval_runs

    request = pending(user)
    approvals.decide(request.request_id, approver(django_user_model, "boss"), approve=True)
    first = approval_runs.claim(request.pk)
    assert (first.status, first.attempts) == ("executing", 1)
    assert approval_runs.claim(request.pk) is None  # a duplicate delivery finds nothing
    lease = first.lease_expires_at
    assert approval_runs.extend_lease(first) and first.lease_expires_at > lease

    # The first worker dies: once its lease has lapsed another worker takes over.
    ApprovalRequest.objects.filter(pk=request.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    second = approval_runs.claim(request.pk, now=timezone.now())
    assert (second.status, second.attempts) == ("executing", 2)
    # The first worker can neither renew nor finish a claim it lost.
    assert not approval_runs.extend_lease(first)
    assert not approval_runs.finish(first, result="late")
    assert approval_runs.finish(second, result="done")
    second.refresh_from_db()
    assert (second.status, second.result) == ("executed", "done")


def test_requeue_finds_lapsed_claims_and_approvals_nobody_took(
    user, django_user_model, settings, monkeypatch
):
    from agentic_django.services import approval_runs

    sent = []
    monkeypatch.setattr(approval_runs, "enqueue", sent.append)
    boss = approver(django_user_model, "boss")
    lapsed, forgotten, fresh = pending(user), pending(user), pending(user)
    for request in (lapsed, forgotten, fresh):
        approvals.decide(request.request_id, boss, approve=True)
    approval_runs.claim(lapsed.pk)
    past = timezone.now() - timedelta(hours=1)
    ApprovalRequest.objects.filter(pk=lapsed.pk).update(lease_expires_at=past)
    ApprovalRequest.objects.filter(pk=forgotten.pk).update(decided_at=past)
    assert approval_runs.requeue_stalled() == 2
    assert sorted(sent) == sorted([lapsed.pk, forgotten.pk])
