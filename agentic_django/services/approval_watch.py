"""Watching one approval request until it is settled (for its event stream).

Changes are announced by the approval signals, which publish on the request's
channel layer group; the watcher re-reads the row on every message, and on a
timer when no shared layer carries them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from ..conf import agentic_settings
from ..models import ApprovalKind, ApprovalRequest, ApprovalStatus
from . import approvals
from .db import run_db
from .run_follow import Subscription
from .run_store import approval_group, publish_sync


def is_settled(request: ApprovalRequest) -> bool:
    """Nothing more will happen to it (a rejected tool call still waits for the model's answer)."""
    if request.status in (ApprovalStatus.EXECUTED, ApprovalStatus.FAILED, ApprovalStatus.EXPIRED):
        return True
    if request.kind == ApprovalKind.STREAM:
        return request.status != ApprovalStatus.PENDING
    return request.status == ApprovalStatus.REJECTED and (
        request.kind != ApprovalKind.TOOL_CALL or request.executed_at is not None
    )


def _readable(request_id: str, user: Any) -> dict[str, Any] | None:
    from ..api.approvals import describe

    request = (
        ApprovalRequest.objects.select_related("requested_by", "decided_by")
        .filter(request_id=request_id)
        .first()
    )
    if request is None or not approvals.may_read(user, request):
        return None
    request = approvals.expire_if_due(request)
    return {**describe(request), "settled": is_settled(request)}


async def watch_approval(request_id: str, user: Any) -> AsyncIterator[dict[str, Any] | None]:
    """Yield the request's description now and after each change; ``None`` for keepalives.

    Yields nothing when ``user`` may not read the request (or it does not exist).
    Ends once the request is settled.
    """
    keepalive = float(agentic_settings.STREAM_KEEPALIVE_SECONDS)
    async with Subscription(approval_group(request_id)) as subscription:
        poll = keepalive if subscription.shared else float(agentic_settings.STREAM_POLL_SECONDS)
        poll = min(poll, keepalive)
        current = await run_db(_readable, request_id, user)
        if current is None:
            return
        yield current
        quiet_since = time.monotonic()
        while not current["settled"]:
            await subscription.receive(poll)
            latest = await run_db(_readable, request_id, user)
            if latest is None:
                return
            if latest != current:
                current = latest
                yield current
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= keepalive:
                yield None
                quiet_since = time.monotonic()


def announce_change(sender: Any, request: ApprovalRequest, **kwargs: Any) -> None:
    """Receiver of the approval signals: wake whoever watches ``request``."""
    publish_sync(
        approval_group(request.request_id),
        {"type": "agentic.approval", "status": str(request.status)},
    )
