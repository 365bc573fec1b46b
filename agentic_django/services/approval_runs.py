"""Carrying out a decided action, exactly once, on a worker (or inline).

A worker claims a request with a conditional update (``approved → executing``
plus a lease); a duplicate delivery finds nothing to claim. A claim whose lease
ran out (the worker died) can be taken again, and ``attempts`` counts the tries.
The action runs with the requester as the user, through the same harness as the
original request, and writes a new trace linked to the request. A rejected tool
call is carried on too: the model is told, and its answer becomes the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.db import DatabaseError
from django.db.models import F, Q
from django.utils import timezone

from ..conf import agentic_settings
from ..core.context import AgentContext
from ..core.exceptions import AgentDisabled, ApprovalStateError
from ..core.intent import Intent, IntentAction
from ..core.response import AgentResponse
from ..harness import BudgetPolicy
from ..models import ApprovalKind, ApprovalRequest, ApprovalStatus, TraceStatus, new_id
from ..observability import tracing
from ..registry import NotRegistered, agents
from ..signals import announce
from .agents import disabled_names, resolve_endpoint
from .approvals import fingerprint
from .budget import BudgetGuard
from .db import run_db
from .execution import ExecutionScope
from .llm import CallRecorder
from .policies import PolicyLedger
from .serialization import to_storable
from .sessions import SessionState, load_session
from .traces import TraceRecord

logger = logging.getLogger("agentic_django.approvals")


def awaits_worker(request: ApprovalRequest) -> bool:
    """Whether a decision left something to carry out (mid-stream ones are their run's)."""
    if request.kind == ApprovalKind.STREAM:
        return False
    if request.status == ApprovalStatus.APPROVED:
        return True
    return (
        request.status == ApprovalStatus.REJECTED
        and request.kind == ApprovalKind.TOOL_CALL
        and request.executed_at is None
    )


def enqueue(pk: int) -> None:
    """Send a decided request to a Celery worker (called once the decision is committed).

    With the inline runner nothing is sent: whoever decided runs it right away
    with :func:`run_decided` (the API view and the admin do).
    """
    if agentic_settings.TASK_RUNNER == "celery":
        from ..tasks import execute_approved

        execute_approved.delay(pk)


async def run_decided(request: ApprovalRequest) -> ApprovalRequest:
    """With the inline runner, carry out what a decision left to do; returns the request."""
    if agentic_settings.TASK_RUNNER == "inline" and awaits_worker(request):
        return await carry_out(request.pk) or request
    return request


def run_decided_sync(request: ApprovalRequest) -> ApprovalRequest:
    """:func:`run_decided` for synchronous callers (admin actions)."""
    return async_to_sync(run_decided)(request)


def claim(pk: int, *, now: Any = None) -> ApprovalRequest | None:
    """Take the request for this worker, or None if someone else has it (or it is done)."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=agentic_settings.APPROVAL_LEASE_SECONDS)
    lapsed = Q(lease_expires_at=None) | Q(lease_expires_at__lt=now)
    requests = (
        ApprovalRequest.objects.filter(pk=pk)
        .exclude(kind=ApprovalKind.STREAM)
        # A switched-off agent's actions wait until it is switched on again.
        .exclude(endpoint_name__in=disabled_names())
    )
    taken = requests.filter(
        Q(status=ApprovalStatus.APPROVED)
        | Q(status=ApprovalStatus.EXECUTING, lease_expires_at__lt=now)
    ).update(status=ApprovalStatus.EXECUTING, lease_expires_at=lease, attempts=F("attempts") + 1)
    if not taken:
        # A rejected tool call is carried on (the model answers) but stays rejected.
        taken = requests.filter(
            lapsed, status=ApprovalStatus.REJECTED, kind=ApprovalKind.TOOL_CALL, executed_at=None
        ).update(lease_expires_at=lease, attempts=F("attempts") + 1)
    return requests.first() if taken else None


def release(request: ApprovalRequest) -> None:
    """Give back a claim without running (the next delivery takes it again)."""
    back = ApprovalStatus.APPROVED if request.status == ApprovalStatus.EXECUTING else request.status
    ApprovalRequest.objects.filter(pk=request.pk, lease_expires_at=request.lease_expires_at).update(
        status=back, lease_expires_at=None
    )


def requeue_stalled(now: Any = None) -> int:
    """Enqueue again what no live worker is carrying out.

    Claims whose lease lapsed (their worker died), approvals older than a lease
    that nobody claimed (their message was lost), and rejected tool calls left
    unanswered. Returns how many were sent.
    """
    now = now or timezone.now()
    lease = timedelta(seconds=agentic_settings.APPROVAL_LEASE_SECONDS)
    stalled = (
        ApprovalRequest.objects.filter(
            Q(status=ApprovalStatus.EXECUTING, lease_expires_at__lt=now)
            | Q(status=ApprovalStatus.APPROVED, decided_at__lt=now - lease)
            | Q(
                status=ApprovalStatus.REJECTED,
                kind=ApprovalKind.TOOL_CALL,
                executed_at=None,
                decided_at__lt=now - lease,
            )
        )
        .exclude(kind=ApprovalKind.STREAM)
        .exclude(endpoint_name__in=disabled_names())
        .values_list("pk", flat=True)
    )
    pks = list(stalled)
    for pk in pks:
        enqueue(pk)
    return len(pks)


def _awaiting_worker(name: str) -> Any:
    return (
        ApprovalRequest.objects.filter(endpoint_name=name)
        .exclude(kind=ApprovalKind.STREAM)
        .filter(
            Q(status=ApprovalStatus.APPROVED)
            | Q(status=ApprovalStatus.REJECTED, kind=ApprovalKind.TOOL_CALL, executed_at=None)
        )
    )


def pending_execution(name: str) -> list[int]:
    """The decided actions of endpoint ``name`` nobody has carried out yet."""
    return list(_awaiting_worker(name).order_by("decided_at").values_list("pk", flat=True))


def run_waiting_inline(name: str) -> int:
    """With the inline runner: carry out now what waited while agent ``name`` was off."""
    done = 0
    for pk in pending_execution(name):
        if async_to_sync(carry_out)(pk) is not None:
            done += 1
    return done


def finish(request: ApprovalRequest, *, result: Any = None, error: str = "") -> bool:
    """Store the outcome; only the claim holder's lease may finish it. True if it did."""
    now = timezone.now()
    approved = request.status == ApprovalStatus.EXECUTING
    status = (
        (ApprovalStatus.FAILED if error else ApprovalStatus.EXECUTED)
        if approved
        else ApprovalStatus.REJECTED
    )
    finished = ApprovalRequest.objects.filter(
        pk=request.pk, lease_expires_at=request.lease_expires_at
    ).update(
        status=status,
        result=to_storable(result),
        error=to_storable(error[:5000]),
        executed_at=now,
        lease_expires_at=None,
    )
    request.refresh_from_db()
    return bool(finished)


def extend_lease(request: ApprovalRequest) -> bool:
    """Push the claim's lease forward; False when the claim was lost to another worker."""
    renewed = timezone.now() + timedelta(seconds=agentic_settings.APPROVAL_LEASE_SECONDS)
    if ApprovalRequest.objects.filter(
        pk=request.pk, lease_expires_at=request.lease_expires_at
    ).update(lease_expires_at=renewed):
        request.lease_expires_at = renewed
        return True
    return False


async def _keep_claim(request: ApprovalRequest) -> None:
    """While the action runs, renew the lease: only a dead worker's claim may lapse."""
    period = max(agentic_settings.APPROVAL_LEASE_SECONDS / 3, 0.5)
    while True:
        await asyncio.sleep(period)
        if not await run_db(extend_lease, request):
            logger.warning("Lost the claim on approval request %s", request.request_id)
            return


async def carry_out(pk: int) -> ApprovalRequest | None:
    """Claim and run a decided request; returns it, or None if there was nothing to do."""
    request = await run_db(claim, pk)
    if request is None:
        return None
    heartbeat = asyncio.create_task(_keep_claim(request))
    try:
        response, trace_id = await _run(request)
    except AgentDisabled:
        # Switched off between the claim and the run: it waits with the others.
        await _stop(heartbeat)
        await run_db(release, request)
        return None
    except DatabaseError:
        await _stop(heartbeat)
        # The database is away: give the claim back if it can be reached, so the
        # retry can take it at once; otherwise it lapses with its lease.
        with contextlib.suppress(DatabaseError):
            await run_db(release, request)
        raise
    except Exception as exc:  # any other failure: the request must not stay claimed
        await _stop(heartbeat)
        logger.exception("Carrying out approval request %s failed", request.request_id)
        if await run_db(finish, request, error=f"{type(exc).__name__}: {exc}"):
            await run_db(announce, "executed", request)
        return request
    await _stop(heartbeat)
    return await _record(request, response, trace_id)


async def _stop(heartbeat: asyncio.Task[None]) -> None:
    heartbeat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heartbeat


async def _record(
    request: ApprovalRequest, response: AgentResponse, trace_id: str
) -> ApprovalRequest:
    """Store the outcome of a run and announce it (unless another worker took over)."""
    if response.status == "completed":
        done = await run_db(finish, request, result=response.result)
    elif response.status == TraceStatus.PENDING_APPROVAL:
        # It paused again (another tool needs approval): this step is done.
        done = await run_db(
            finish,
            request,
            result={"pending_approval": response.approval_request, "trace_id": trace_id},
        )
    else:
        done = await run_db(finish, request, error=response.error or response.status)
    if done:
        await run_db(announce, "executed", request)
    return request


@tracing.traced_approval_execution
async def _run(request: ApprovalRequest) -> tuple[AgentResponse, str]:
    """Run the stored action as a new request of its requester; record it like one."""
    from .pipeline import failure_response, finish_request

    started = time.perf_counter()
    user, session = await run_db(_requester_and_session, request)
    stored_intent = request.action.get("intent", {})
    record = TraceRecord(
        trace_id=new_id(),
        endpoint_name=request.endpoint_name,
        intent_raw=str(stored_intent.get("raw", request.summary)),
        status=TraceStatus.COMPLETED,
        approval_request_id=request.pk,
        intent_action=str(stored_intent.get("action", "")),
        intent_domain=str(stored_intent.get("domain", "")),
        intent_parameters=dict(stored_intent.get("parameters") or {}),
    )
    recorder = CallRecorder()
    ledger: PolicyLedger | None = None
    exception: BaseException | None = None
    response: Any
    try:
        try:
            endpoint = await resolve_endpoint(agents.get(request.endpoint_name))
        except NotRegistered:
            raise ApprovalStateError(
                f"Endpoint {request.endpoint_name!r} is no longer registered."
            ) from None
        if fingerprint(request.kind, request.action) != request.fingerprint:
            raise ApprovalStateError("The stored action changed after it was reviewed.")
        ledger = PolicyLedger.for_endpoint(endpoint.policies)
        intent = _rebuild_intent(stored_intent)
        owner_id = user.pk if user is not None else None
        scope = ExecutionScope(
            endpoint=endpoint,
            intent=intent,
            context=AgentContext(
                trace_id=record.trace_id,
                endpoint_name=endpoint.name,
                session_id=session.session_id,
                user_id=str(owner_id) if owner_id is not None else None,
                user=user,
                session_context=session.context,
                metadata={"approval_request": request.request_id},
            ),
            user=user,
            user_id=owner_id,
            ledger=ledger,
            recorder=recorder,
            guard=BudgetGuard(
                ledger.find(BudgetPolicy),
                recorder,
                user_id=owner_id,
                session_pk=session.pk,
                endpoint_name=endpoint.name,
            ),
            record=record,
        )
        response = await _resume(scope, request)
    except AgentDisabled:
        raise
    except Exception as exc:
        exception = exc
        response = failure_response(exc, record)
    outcome = await finish_request(
        record,
        response,
        exception,
        ledger=ledger,
        recorder=recorder,
        session=session,
        user=user,
        started=started,
    )
    assert isinstance(outcome.response, AgentResponse)
    return outcome.response, outcome.trace_id


async def _resume(scope: ExecutionScope, request: ApprovalRequest) -> AgentResponse:
    from .agent_loop import resume_loop
    from .codegen import run_approved_code
    from .workflows import resume_workflow

    approved = request.status == ApprovalStatus.EXECUTING
    if request.kind == ApprovalKind.CODE:
        return await run_approved_code(scope, request.action)
    if request.kind == ApprovalKind.TOOL_CALL:
        return await resume_loop(scope, request.action, approved=approved, reason=request.reason)
    if request.kind == ApprovalKind.WORKFLOW:
        return await resume_workflow(scope, request.action)
    raise ApprovalStateError(f"{request.kind} requests are not carried out by a worker.")


def _requester_and_session(request: ApprovalRequest) -> tuple[Any, SessionState]:
    user = request.requested_by
    session_id = request.session.session_id if request.session_id else None
    return user, load_session(session_id, user) if session_id else SessionState(new_id())


def _rebuild_intent(stored: dict[str, Any]) -> Intent[Any]:
    try:
        action = IntentAction(stored.get("action", "read"))
    except ValueError:
        action = IntentAction.READ
    return Intent(
        raw=str(stored.get("raw", "")),
        action=action,
        domain=str(stored.get("domain", "")),
        parameters=dict(stored.get("parameters") or {}),
        confidence=float(stored.get("confidence", 1.0)),
    )
