"""Mid-stream approvals: a handler waits on an ``ApprovalRequest(kind="stream")``.

The request is an ordinary row, so it can be decided from the resume endpoint,
the WebSocket or admin, in any process. The waiting handler hears of the
decision through the channel layer, or by reading the row when no shared layer
tells it. When time runs out the default decision applies and the row becomes
``expired`` (never ``rejected``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..conf import agentic_settings
from ..core.exceptions import ApprovalStateError, InvalidRequest, PermissionDenied
from ..harness import ApprovalRule
from ..models import (
    AgentRun,
    ApprovalApprover,
    ApprovalDecision,
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    RunStatus,
)
from ..signals import announce
from ..streaming import ApprovalOutcome, ApprovalTicket
from .approvals import fingerprint, may_decide, pause_rule
from .db import run_db
from .run_follow import Subscription
from .run_store import approval_group, set_status, touch


def _open(
    run: AgentRun,
    rule: ApprovalRule,
    *,
    prompt: str,
    options: list[str],
    timeout_seconds: float,
    default_decision: str,
    owner_may_decide: bool,
) -> ApprovalRequest:
    action = {
        "prompt": prompt,
        "options": options,
        "default_decision": default_decision,
        "owner_may_decide": owner_may_decide,
        "run_id": run.run_id,
    }
    with transaction.atomic():
        request = ApprovalRequest.objects.create(
            kind=ApprovalKind.STREAM,
            endpoint_name=run.endpoint_name,
            run=run,
            requested_by_id=run.user_id,
            rule_name=rule.name,
            approvers=list(rule.approvers),
            require_all_approvers=False,
            allow_self_approval=rule.allow_self_approval,
            summary=prompt[:2000],
            action=action,
            fingerprint=fingerprint(ApprovalKind.STREAM, action),
            expires_at=timezone.now() + timedelta(seconds=timeout_seconds),
        )
        ApprovalApprover.objects.bulk_create(
            ApprovalApprover(request=request, entry=entry)
            for entry in dict.fromkeys(rule.approvers)
        )
        AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.WAITING_APPROVAL)
        transaction.on_commit(lambda: announce("requested", request))
    return request


def describe_stream_request(request: ApprovalRequest, run_id: str) -> dict[str, Any]:
    """The ``approval_request`` of a 202 answered while a streamed run waits on a person."""
    return {
        "id": request.request_id,
        "kind": ApprovalKind.STREAM.value,
        "rule": request.rule_name,
        "prompt": request.action["prompt"],
        "options": list(request.action["options"]),
        "default_decision": request.action["default_decision"],
        "approvers": list(request.approvers),
        "expires_at": request.expires_at.isoformat(),
        "run_id": run_id,
        "url": f"approvals/{request.request_id}/",
        "resume_url": f"runs/{run_id}/resume/",
        "events_url": f"runs/{run_id}/events/",
    }


def decision_of(request: ApprovalRequest) -> str:
    """The option chosen on a settled request.

    Admin decides with approve or reject only: those map onto the options
    named so, else onto the first option (approve) or the last (the refusal).
    """
    options = list(request.action.get("options") or ("approve", "reject"))
    if isinstance(request.result, dict) and request.result.get("decision") in options:
        return str(request.result["decision"])
    if request.status == ApprovalStatus.EXPIRED:
        return str(request.action.get("default_decision", options[-1]))
    if request.status == ApprovalStatus.REJECTED:
        return "reject" if "reject" in options else options[-1]
    return "approve" if "approve" in options else options[0]


def _expire(pk: int) -> ApprovalRequest:
    """Apply the default decision to a request nobody decided in time."""
    request = ApprovalRequest.objects.get(pk=pk)
    changed = ApprovalRequest.objects.filter(pk=pk, status=ApprovalStatus.PENDING).update(
        status=ApprovalStatus.EXPIRED,
        result={"decision": request.action.get("default_decision"), "timed_out": True},
    )
    request.refresh_from_db()
    if changed:
        transaction.on_commit(lambda: announce("expired", request))
    return request


def _status(pk: int) -> ApprovalRequest:
    return ApprovalRequest.objects.select_related("decided_by").get(pk=pk)


class StreamApprovalGate:
    """The :class:`~agentic_django.streaming.ApprovalGate` of one run."""

    def __init__(self, run: AgentRun, endpoint: Any) -> None:
        self.run = run
        self.endpoint = endpoint
        #: Set by the pipeline once the intent is parsed: the endpoint's rules match on it.
        self.intent_key: tuple[str, str] = ("", "")
        #: Told about each question as soon as it is stored (a caller answering early).
        self.on_open: Callable[[dict[str, Any]], None] | None = None
        self._requests: dict[str, int] = {}

    async def open(
        self,
        *,
        prompt: str,
        options: Sequence[str],
        timeout_seconds: float,
        default_decision: str,
        owner_may_decide: bool,
    ) -> ApprovalTicket:
        rule = pause_rule(self.endpoint.approval, *self.intent_key)
        request = await run_db(
            _open,
            self.run,
            rule,
            prompt=prompt,
            options=list(options),
            timeout_seconds=timeout_seconds,
            default_decision=default_decision,
            owner_may_decide=owner_may_decide,
        )
        self._requests[request.request_id] = request.pk
        if self.on_open is not None:
            self.on_open(describe_stream_request(request, self.run.run_id))
        return ApprovalTicket(
            approval_id=request.request_id,
            approvers=tuple(request.approvers),
            expires_at=request.expires_at,
        )

    async def wait(self, ticket: ApprovalTicket) -> ApprovalOutcome:
        pk = self._requests.pop(ticket.approval_id)
        deadline = ticket.expires_at
        heartbeat = float(agentic_settings.RUN_HEARTBEAT_SECONDS)
        try:
            async with Subscription(approval_group(ticket.approval_id)) as subscription:
                poll = heartbeat if subscription.shared else agentic_settings.STREAM_POLL_SECONDS
                last_touch = time.monotonic()
                while True:
                    request = await run_db(_status, pk)
                    if request.status == ApprovalStatus.PENDING:
                        left = (deadline - timezone.now()).total_seconds()
                        if left <= 0:
                            request = await run_db(_expire, pk)
                    if request.status != ApprovalStatus.PENDING:
                        break
                    await subscription.receive(max(0.01, min(float(poll), left)))
                    if time.monotonic() - last_touch >= heartbeat:
                        await run_db(touch, self.run.pk)
                        last_touch = time.monotonic()
        except asyncio.CancelledError:
            # The run was cancelled: nobody is waiting for this answer any more.
            await run_db(_expire, pk)
            raise
        await run_db(set_status, self.run.pk, RunStatus.RUNNING)
        decided_by = request.decided_by.get_username() if request.decided_by else None
        return ApprovalOutcome(
            decision=decision_of(request),
            timed_out=request.status == ApprovalStatus.EXPIRED,
            decided_by=decided_by,
            reason=request.reason,
        )


# --- deciding ----------------------------------------------------------------------------


def may_decide_stream(user: Any, request: ApprovalRequest) -> bool:
    """The run's owner (unless the run was escalated), or an approver per the endpoint's rules."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    owner_may = bool(request.action.get("owner_may_decide"))
    if owner_may and request.requested_by_id == user.pk:
        return True
    return may_decide(user, request)


def decide_stream(
    request_id: str, user: Any, decision: str, *, run_id: str | None = None, reason: str = ""
) -> ApprovalRequest:
    """Choose ``decision`` for a pending mid-stream approval.

    Raises ``ApprovalRequest.DoesNotExist`` (also for a request of another run),
    :class:`PermissionDenied`, :class:`InvalidRequest` (not one of the options)
    or :class:`ApprovalStateError` (already decided or expired: 409).
    """
    with transaction.atomic():
        requests = ApprovalRequest.objects.select_for_update().filter(kind=ApprovalKind.STREAM)
        if run_id is not None:
            requests = requests.filter(run__run_id=run_id)
        request = requests.get(request_id=request_id)
        if not may_decide_stream(user, request):
            raise PermissionDenied("You may not decide this approval request.")
        options = list(request.action.get("options") or ())
        if decision not in options:
            raise InvalidRequest(f"decision must be one of {options}, got {decision!r}.")
        if request.status == ApprovalStatus.PENDING and request.expires_at <= timezone.now():
            raise ApprovalStateError(
                f"Approval request {request.request_id} expired.", status=ApprovalStatus.EXPIRED
            )
        if request.status != ApprovalStatus.PENDING:
            raise ApprovalStateError(
                f"Approval request {request.request_id} is already {request.status}.",
                status=request.status,
            )
        approve = decision != options[-1]
        try:
            with transaction.atomic():
                ApprovalDecision.objects.create(
                    request=request, user=user, approve=approve, reason=reason
                )
        except IntegrityError:
            raise ApprovalStateError("You already decided this request.") from None
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalStatus.PENDING).update(
            status=status,
            decided_by=user,
            decided_at=timezone.now(),
            reason=reason,
            result={"decision": decision},
        )
        request.refresh_from_db()
        transaction.on_commit(lambda: announce("decided", request, user=user))
    return request


def pending_for_run(run: AgentRun, approval_id: str | None) -> ApprovalRequest:
    """The run's pending mid-stream request (the one named, or the only one)."""
    requests = ApprovalRequest.objects.filter(run=run, kind=ApprovalKind.STREAM)
    if approval_id:
        return requests.get(request_id=approval_id)
    pending = list(requests.filter(status=ApprovalStatus.PENDING)[:2])
    if len(pending) != 1:
        raise ApprovalRequest.DoesNotExist("No single pending approval on this run.")
    return pending[0]
