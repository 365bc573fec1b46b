"""Durable approvals: storing a paused action, who may see and decide it, deciding it.

The state machine (``pending → approved → executing → executed | failed``,
``pending → rejected``, ``pending → expired``) moves only through conditional
updates, so two people clicking at once produce one decision and a repeated
click changes nothing. What happens after an approval is in ``approval_runs``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from ..conf import agentic_settings
from ..core.exceptions import ApprovalRequired, ApprovalStateError, PermissionDenied
from ..harness import DEFAULT_RULE, ApprovalRule, ApprovalWorkflow, parse_approver
from ..models import (
    ApprovalApprover,
    ApprovalDecision,
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    ExecutionTrace,
    new_id,
)
from ..signals import announce
from .serialization import to_storable

APPROVE_PERMISSION = "agentic_django.approve_approvalrequest"

#: The part of each kind of action that must not change between review and execution.
_EXECUTABLE_KEYS = {
    ApprovalKind.CODE: ("code", "data"),
    ApprovalKind.TOOL_CALL: ("tool", "arguments", "call_id"),
    ApprovalKind.WORKFLOW: ("checkpoint",),
    ApprovalKind.STREAM: ("prompt", "options"),
}


def fingerprint(kind: str, action: dict[str, Any]) -> str:
    """A sha256 of what would run: the code and its data, the tool call, the checkpoint."""
    material = {key: action.get(key) for key in _EXECUTABLE_KEYS[ApprovalKind(kind)]}
    text = json.dumps({"kind": kind, **material}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class PendingApproval:
    """An action the pipeline stopped; stored with the request's trace, in one transaction."""

    kind: str
    rule: ApprovalRule
    action: dict[str, Any]
    summary: str
    notifier: Any = None
    request_id: str = field(default_factory=new_id)
    expires_at: datetime = field(default_factory=timezone.now)

    def __post_init__(self) -> None:
        timeout = self.rule.timeout_seconds or agentic_settings.APPROVAL_TIMEOUT_SECONDS
        self.expires_at = timezone.now() + timedelta(seconds=timeout)

    def describe(self) -> dict[str, Any]:
        """The ``approval_request`` of the 202 response."""
        return {
            "id": self.request_id,
            "kind": self.kind,
            "rule": self.rule.name,
            "approvers": list(self.rule.approvers),
            "expires_at": self.expires_at.isoformat(),
            "url": approval_url(self.request_id),
        }


def approval_url(request_id: str) -> str | None:
    """Where the requester follows a request over HTTP, or None without our URLs.

    The pipeline also runs from Python (shell, tasks, tests) in projects that do
    not include ``agentic_django.urls``: a missing route must cost the link, never
    the request (check ``agentic_django.W010`` says the URLs are missing).
    """
    try:
        return reverse("agentic_django:approval-detail", args=[request_id])
    except NoReverseMatch:
        return None


class ApprovalPending(ApprovalRequired):
    """Raised inside the pipeline to stop a request and store ``pending``."""

    def __init__(self, pending: PendingApproval, message: str = "") -> None:
        super().__init__(
            message or pending.summary,
            request_id=pending.request_id,
            approvers=pending.rule.approvers,
        )
        self.pending = pending


def rule_for(approval: ApprovalWorkflow | None, action: str, domain: str) -> ApprovalRule | None:
    """The endpoint's rule for an intent, or None."""
    return approval.rule_for(action, domain) if approval is not None else None


def pause_rule(approval: ApprovalWorkflow | None, action: str, domain: str) -> ApprovalRule:
    """Who decides a tool call or workflow step that asked for approval itself."""
    return rule_for(approval, action, domain) or DEFAULT_RULE


def store(
    pending: PendingApproval,
    *,
    trace: ExecutionTrace,
    session_pk: int | None,
    user_id: int | None,
) -> ApprovalRequest:
    """Create the request row (called inside the trace's transaction)."""
    rule = pending.rule
    # What is reviewed, fingerprinted and later run is the storable form of the action
    # (a model's NaN argument becomes the string "nan": visible to the reviewer).
    action = to_storable(pending.action, bounded=False)
    request = ApprovalRequest.objects.create(
        request_id=pending.request_id,
        kind=pending.kind,
        endpoint_name=trace.endpoint_name,
        trace=trace,
        session_id=session_pk,
        requested_by_id=user_id,
        rule_name=rule.name,
        approvers=list(rule.approvers),
        require_all_approvers=rule.require_all_approvers,
        allow_self_approval=rule.allow_self_approval,
        summary=to_storable(pending.summary[:2000]),
        action=action,
        fingerprint=fingerprint(pending.kind, action),
        expires_at=pending.expires_at,
    )
    ApprovalApprover.objects.bulk_create(
        ApprovalApprover(request=request, entry=entry) for entry in dict.fromkeys(rule.approvers)
    )
    return request


# --- who may see and decide -------------------------------------------------------------


def matching_entries(user: Any, request: ApprovalRequest) -> list[str]:
    """The approver entries of ``request`` that ``user`` satisfies (one query for groups)."""
    groups: set[str] | None = None
    matched = []
    for entry in request.approvers:
        kind, value = parse_approver(entry)
        if kind == "user":
            found = user.get_username() == value
        elif kind == "group":
            if groups is None:
                groups = set(user.groups.values_list("name", flat=True))
            found = value in groups
        else:
            found = user.has_perm(value)
        if found:
            matched.append(entry)
    return matched


def may_decide(user: Any, request: ApprovalRequest) -> bool:
    """The permission, one of the rule's approvers (if it lists any), not one's own request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if not user.has_perm(APPROVE_PERMISSION):
        return False
    if request.requested_by_id == user.pk and not request.allow_self_approval:
        return False
    return not request.approvers or user.is_superuser or bool(matching_entries(user, request))


def may_read(user: Any, request: ApprovalRequest) -> bool:
    """The requester and whoever may decide it."""
    if user is None or not user.is_authenticated:
        return False
    return request.requested_by_id == user.pk or may_decide(user, request)


def visible_to(user: Any) -> QuerySet[ApprovalRequest]:
    """The requests ``user`` may see: their own, plus those they may decide.

    Approver matching is done in the database on the ``ApprovalApprover`` rows,
    so the list stays one query however many requests there are.
    """
    requests = ApprovalRequest.objects.all()
    if user is None or not user.is_authenticated:
        return requests.none()
    own = Q(requested_by_id=user.pk)
    if not user.is_active or not user.has_perm(APPROVE_PERMISSION):
        return requests.filter(own)
    if user.is_superuser:
        return requests
    entries = [f"user:{user.get_username()}"]
    entries += [f"group:{name}" for name in user.groups.values_list("name", flat=True)]
    entries += [f"perm:{perm}" for perm in user.get_all_permissions()]
    open_to_all = ~Exists(ApprovalApprover.objects.filter(request=OuterRef("pk")))
    listed = Exists(ApprovalApprover.objects.filter(request=OuterRef("pk"), entry__in=entries))
    not_own = ~Q(requested_by_id=user.pk) | Q(allow_self_approval=True)
    return requests.filter(own | ((open_to_all | listed) & not_own))


# --- deciding ---------------------------------------------------------------------------


def expire_if_due(request: ApprovalRequest) -> ApprovalRequest:
    """Mark a pending request whose time is up as expired (never as rejected)."""
    if request.status == ApprovalStatus.PENDING and request.expires_at <= timezone.now():
        changed = ApprovalRequest.objects.filter(
            pk=request.pk, status=ApprovalStatus.PENDING
        ).update(status=ApprovalStatus.EXPIRED)
        request.refresh_from_db()
        if changed:
            transaction.on_commit(lambda: announce("expired", request))
    return request


_APPROVED_STATES = {
    ApprovalStatus.APPROVED,
    ApprovalStatus.EXECUTING,
    ApprovalStatus.EXECUTED,
    ApprovalStatus.FAILED,
}


def _settled(request: ApprovalRequest, approve: bool) -> ApprovalRequest:
    """A request no longer pending: the same decision is a no-op, another one a conflict."""
    if request.status == ApprovalStatus.EXPIRED:
        raise ApprovalStateError(
            f"Approval request {request.request_id} expired at {request.expires_at.isoformat()}.",
            status=request.status,
        )
    agrees = (
        request.status in _APPROVED_STATES
        if approve
        else (request.status == ApprovalStatus.REJECTED)
    )
    if not agrees:
        raise ApprovalStateError(
            f"Approval request {request.request_id} is already {request.status}.",
            status=request.status,
        )
    return request


def decide(request_id: str, user: Any, *, approve: bool, reason: str = "") -> ApprovalRequest:
    """Record ``user``'s decision; the request moves on when the decision is final.

    Raises ``ApprovalRequest.DoesNotExist``, :class:`PermissionDenied` (403) or
    :class:`ApprovalStateError` (409: expired, or already decided the other way).
    """
    # Expire first, in its own transaction: the refusal below must not roll it back.
    expire_if_due(ApprovalRequest.objects.get(request_id=request_id))
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(request_id=request_id)
        if not may_decide(user, request):
            raise PermissionDenied("You may not decide this approval request.")
        if request.status != ApprovalStatus.PENDING:
            return _settled(request, approve)
        entries = matching_entries(user, request)
        try:
            with transaction.atomic():
                ApprovalDecision.objects.create(
                    request=request,
                    user=user,
                    approve=approve,
                    # Every entry this user satisfies counts (one person may cover several).
                    approver=" ".join(entries),
                    reason=reason,
                )
        except IntegrityError:
            earlier = ApprovalDecision.objects.get(request=request, user=user)
            if earlier.approve != approve:
                raise ApprovalStateError(
                    "You already decided this request the other way.", status=request.status
                ) from None
            return request
        if approve and request.require_all_approvers and not _every_approver_agreed(request):
            return request
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        changed = ApprovalRequest.objects.filter(
            pk=request.pk, status=ApprovalStatus.PENDING
        ).update(status=status, decided_by=user, decided_at=timezone.now(), reason=reason)
        request.refresh_from_db()
        if not changed:
            return _settled(request, approve)
        transaction.on_commit(lambda: announce("decided", request, user=user))
        if request.kind == ApprovalKind.STREAM:
            # The handler waiting in its stream carries it on, not a worker.
            pass
        elif status == ApprovalStatus.APPROVED or request.kind == ApprovalKind.TOOL_CALL:
            # A rejected tool call still continues: the model is told and answers.
            from .approval_runs import enqueue

            transaction.on_commit(lambda: enqueue(request.pk))
    return request


def _every_approver_agreed(request: ApprovalRequest) -> bool:
    satisfied = {
        entry
        for covered in request.decisions.filter(approve=True).values_list("approver", flat=True)
        for entry in covered.split()
    }
    return all(entry in satisfied for entry in request.approvers)


def expire_due(now: datetime | None = None, *, warn_within: timedelta | None = None) -> int:
    """Expire every pending request whose time is up; warn those close to it. Returns expired."""
    now = now or timezone.now()
    if warn_within:
        for request in ApprovalRequest.objects.pending().filter(
            expires_at__gt=now, expires_at__lte=now + warn_within, expiry_warned_at=None
        ):
            if ApprovalRequest.objects.filter(pk=request.pk, expiry_warned_at=None).update(
                expiry_warned_at=now
            ):
                announce("expiring", request)
    expired = 0
    for request in ApprovalRequest.objects.due(now):
        if ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalStatus.PENDING).update(
            status=ApprovalStatus.EXPIRED
        ):
            expired += 1
            request.status = ApprovalStatus.EXPIRED
            announce("expired", request)
    return expired
