"""Streaming runs: start one, let it finish whatever happens to its client, recover lost ones.

``start_run`` stores an :class:`~agentic_django.models.AgentRun`, then runs the
pipeline in a task of its own with an :class:`AgentStream` whose events are
stored and published (``run_store``). Transports only follow the run
(``run_follow``), so a client that goes away stops reading, not the run —
unless the endpoint says ``on_disconnect="cancel"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel

from ..conf import agentic_settings
from ..core.exceptions import AgentDisabled, AgenticError
from ..core.response import AgentResponse
from ..models import (
    LIVE_RUN_STATES,
    AgentRun,
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    RunStatus,
    StreamEvent,
)
from ..observability import tracing
from ..streaming import AgentStream, ErrorEvent
from ..streaming.framing import event_json
from . import approvals
from .agents import resolve_endpoint
from .db import run_db
from .run_store import EventWriter, process_label, publish_sync, run_group, set_status, touch
from .sessions import user_pk
from .stream_approvals import StreamApprovalGate

if TYPE_CHECKING:
    from ..registry import AgentEndpointDef, AgentSite

logger = logging.getLogger("agentic_django.streaming")

#: Runs executing in this process, by run id (kept referenced so they are not collected).
_live: dict[str, asyncio.Task[None]] = {}


class RunCancelled(AgenticError):
    """The run was cancelled (its client went away and the endpoint cancels on disconnect)."""

    code = "cancelled"


@dataclass
class RunContext:
    """What the pipeline needs to run a request as a stream."""

    run: AgentRun
    stream: AgentStream
    gate: StreamApprovalGate
    writer: EventWriter


def _create(endpoint_name: str, user: Any, raw: str) -> AgentRun:
    return AgentRun.objects.create(
        endpoint_name=endpoint_name,
        user_id=user_pk(user),
        intent_raw=raw[:2000],
        worker=process_label(),
    )


def build_context(run: AgentRun, endpoint: AgentEndpointDef) -> RunContext:
    writer = EventWriter(run)
    gate = StreamApprovalGate(run, endpoint)
    stream = AgentStream(
        writer,
        run_id=run.run_id,
        gate=gate,
        autonomy=endpoint.autonomy,
        autonomy_level=endpoint.autonomy_level,
    )
    return RunContext(run=run, stream=stream, gate=gate, writer=writer)


async def start_run(
    site: AgentSite,
    endpoint: AgentEndpointDef,
    raw: str,
    *,
    user: Any = None,
    session_id: str | None = None,
    params: BaseModel | None = None,
    request: Any = None,
) -> AgentRun:
    """Store a new run and start executing it in this process; returns at once.

    A switched-off agent starts nothing: its refusal is traced and
    :class:`~agentic_django.core.exceptions.AgentDisabled` raised.
    """
    try:
        endpoint = await resolve_endpoint(endpoint)
    except AgentDisabled as exc:
        from .pipeline import refuse

        await refuse(endpoint, raw, exc, user=user, session_id=session_id)
        raise
    run = await run_db(_create, endpoint.name, user, raw)
    _launch(
        site,
        endpoint,
        raw,
        build_context(run, endpoint),
        user=user,
        session_id=session_id,
        params=params,
        request=request,
    )
    return run


def _launch(
    site: AgentSite, endpoint: AgentEndpointDef, raw: str, context: RunContext, **kwargs: Any
) -> asyncio.Task[Any]:
    """Execute the run in a task of its own, kept referenced until it ends."""
    run_id = context.run.run_id
    task = asyncio.create_task(
        execute(site, endpoint, raw, context, **kwargs), name=f"agentic-run-{run_id}"
    )
    _live[run_id] = task
    task.add_done_callback(lambda _: _live.pop(run_id, None))
    return task


@dataclass
class AwaitedRun:
    """A streamed run, for a caller that wants one answer instead of a stream.

    Either the run ended (``outcome``; ``None`` if it was cancelled) or it is
    waiting on a person (``approval``: the question, answered as soon as it is
    asked, while the run keeps waiting for the decision). ``run_id`` is ``None``
    when a switched-off agent started no run.
    """

    run_id: str | None
    outcome: Any = None
    approval: dict[str, Any] | None = None

    @property
    def status_code(self) -> int:
        if self.approval is not None:
            return 202
        if self.outcome is None:
            return 499
        return int(self.outcome.status_code)

    def response(self) -> Any:
        """An :class:`AgentResponse` (or the handler's ``HttpResponse``) for Python callers."""
        if self.approval is not None:
            return AgentResponse(
                result=None,
                status="pending_approval",
                error=self.approval["prompt"],
                approval_request=self.approval,
            )
        if self.outcome is None:
            return AgentResponse(
                result=None,
                status="error",
                error="The run was cancelled.",
                details={"code": RunCancelled.code},
            )
        return self.outcome.response

    def body(self) -> dict[str, Any]:
        """The JSON body of the HTTP route (the response, its session and the run id)."""
        if self.outcome is not None and self.approval is None:
            body = self.outcome.body()
        else:
            body = self.response().to_dict()
        if self.run_id is not None:
            body["run_id"] = self.run_id
        return body


async def run_and_wait(
    site: AgentSite,
    endpoint: AgentEndpointDef,
    raw: str,
    *,
    user: Any = None,
    session_id: str | None = None,
    **kwargs: Any,
) -> AwaitedRun:
    """Run a streaming endpoint for a caller that wants one answer: the JSON route, Python.

    The run executes in a task of its own, exactly as a streamed one: its events
    are stored and can be followed (``runs/<id>/events/``). This returns when the
    run ends, or as soon as it asks a person for approval (the run then keeps
    waiting for the decision, which may come from the resume route, the approval
    API or admin). A caller that goes away (cancelled) leaves the run running,
    unless the endpoint says ``on_disconnect="cancel"``.
    """
    try:
        endpoint = await resolve_endpoint(endpoint)
    except AgentDisabled as exc:
        from .pipeline import refuse

        return AwaitedRun(None, await refuse(endpoint, raw, exc, user=user, session_id=session_id))
    run = await run_db(_create, endpoint.name, user, raw)
    context = build_context(run, endpoint)
    asked: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_open(description: dict[str, Any]) -> None:
        if not asked.done():
            asked.set_result(description)

    context.gate.on_open = on_open
    task = _launch(site, endpoint, raw, context, user=user, session_id=session_id, **kwargs)
    try:
        await asyncio.wait({task, asked}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        if endpoint.on_disconnect == "cancel":
            task.cancel()
        raise
    finally:
        context.gate.on_open = None
    if task.done():
        return AwaitedRun(run.run_id, task.result())
    return AwaitedRun(run.run_id, approval=asked.result())


@tracing.traced_run
async def execute(
    site: AgentSite,
    endpoint: AgentEndpointDef,
    raw: str,
    context: RunContext,
    **kwargs: Any,
) -> Any:
    """Run the pipeline with the stream; end the stream with ``final`` or ``error``.

    Returns the pipeline's :class:`~agentic_django.services.pipeline.Outcome`
    (``None`` when cancelled).
    """
    from .pipeline import process_intent

    run, stream = context.run, context.stream
    heartbeat = asyncio.create_task(_heartbeat(run.pk))
    status = RunStatus.FAILED
    outcome = None
    try:
        outcome = await process_intent(site, endpoint, raw, run=context, **kwargs)
        status = RunStatus.COMPLETED if outcome.status_code < 400 else RunStatus.FAILED
        if not stream.closed:
            await _emit_outcome(stream, outcome)
    except asyncio.CancelledError:
        status = RunStatus.CANCELLED
        if not stream.closed:
            await stream.emit_error("The run was cancelled.", code="cancelled", status_code=499)
    except Exception:
        logger.exception("Run %s of %r failed outside the pipeline", run.run_id, endpoint.name)
        if not stream.closed:
            await stream.emit_error("Internal server error", code="error", status_code=500)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(Exception):
            await context.writer.drain()
        await run_db(set_status, run.pk, status, finished=True)
    return outcome


async def _emit_outcome(stream: AgentStream, outcome: Any) -> None:
    from django.http import HttpResponseBase

    response = outcome.response
    if isinstance(response, HttpResponseBase):
        await stream.emit_final(
            {"http_response": {"status": response.status_code}},
            trace_id=outcome.trace_id,
            session_id=outcome.session_id,
        )
        return
    body = outcome.body()
    if outcome.status_code < 400:
        await stream.emit_final(
            body.get("result"),
            status=body.get("status", "completed"),
            trace_id=outcome.trace_id,
            session_id=outcome.session_id,
            approval_request=body.get("approval_request"),
        )
    else:
        details = body.get("details") or {}
        await stream.emit_error(
            body.get("error") or "Internal server error",
            code=details.get("code") or body.get("status", "error"),
            status_code=outcome.status_code,
            trace_id=outcome.trace_id,
        )


async def _heartbeat(run_pk: int) -> None:
    interval = float(agentic_settings.RUN_HEARTBEAT_SECONDS)
    while True:
        await asyncio.sleep(interval)
        await run_db(touch, run_pk)


def find_visible_sync(run_id: str, user: Any) -> AgentRun | None:
    """The run if ``user`` may read its events, else ``None``: its owner, a holder of
    ``view_agentrun``, or someone who may decide the run's pending approval request
    (they need its context to decide)."""
    run = AgentRun.objects.visible_to(user).filter(run_id=run_id).first()
    if run is not None:
        return run
    pending = approvals.visible_to(user).filter(run__run_id=run_id, status=ApprovalStatus.PENDING)
    if pending.exists():
        return AgentRun.objects.filter(run_id=run_id).first()
    return None


async def find_visible(run_id: str, user: Any) -> AgentRun | None:
    """:func:`find_visible_sync` from async code."""
    return await run_db(find_visible_sync, run_id, user)


def cancel_local(run_id: str) -> bool:
    """Cancel a run executing in this process; False if it is not here (or already over)."""
    task = _live.get(run_id)
    if task is None or task.done():
        return False
    task.cancel()
    return True


async def wait_local(run_id: str) -> None:
    """Wait for a run of this process to end (tests and shutdown)."""
    task = _live.get(run_id)
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- recovery ----------------------------------------------------------------------------


def recover_stale(stale_seconds: float | None = None, *, dry_run: bool = False) -> list[str]:
    """Fail the live runs whose process stopped giving signs of life; returns their ids.

    Each gets a final ``error`` event (code ``run_lost``), so followers end, and
    its pending mid-stream approvals expire.
    """
    seconds = agentic_settings.RUN_STALE_SECONDS if stale_seconds is None else stale_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    recovered = []
    for run in AgentRun.objects.stale(cutoff):
        if dry_run:
            recovered.append(run.run_id)
            continue
        with transaction.atomic():
            changed = AgentRun.objects.filter(
                pk=run.pk, status__in=LIVE_RUN_STATES, heartbeat_at__lt=cutoff
            ).update(status=RunStatus.FAILED, finished_at=timezone.now())
            if not changed:
                continue
            seq = run.last_seq + 1
            event = ErrorEvent(
                seq=seq,
                message="The process running this agent stopped before it finished.",
                code="run_lost",
                status_code=500,
            ).to_wire()
            StreamEvent.objects.create(run=run, seq=seq, kind="error", payload=event)
            AgentRun.objects.filter(pk=run.pk).update(last_seq=seq)
            ApprovalRequest.objects.filter(
                run=run, kind=ApprovalKind.STREAM, status=ApprovalStatus.PENDING
            ).update(status=ApprovalStatus.EXPIRED)
            message = {"type": "agentic.events", "events": [[seq, "error", event_json(event)]]}
            transaction.on_commit(partial(publish_sync, run_group(run.run_id), message))
        recovered.append(run.run_id)
    return recovered
