"""Signals about approval requests, for notifications and integrations.

Every signal is sent with ``sender=ApprovalRequest`` and ``request`` (the
``ApprovalRequest`` instance), after the change is committed:

- ``approval_requested``: a request was stored (an action is waiting).
- ``approval_decided``: it was approved or rejected; also ``user`` (who decided).
- ``approval_executed``: the worker finished it (``request.status`` is ``executed``
  or ``failed``; for a rejected tool call, the model's answer is in ``request.result``).
- ``approval_expiring``: it expires soon (sent once, by the periodic expiry task).
- ``approval_expired``: it expired undecided.

Receivers must not raise: a failing receiver is logged and the others still run.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

approval_requested = Signal()
approval_decided = Signal()
approval_executed = Signal()
approval_expiring = Signal()
approval_expired = Signal()

logger = logging.getLogger("agentic_django.approvals")

_EVENTS = {
    "requested": approval_requested,
    "decided": approval_decided,
    "executed": approval_executed,
    "expiring": approval_expiring,
    "expired": approval_expired,
}


def announce(event: str, request: Any, **extra: Any) -> None:
    """Send the signal for ``event`` and tell the endpoint's notifier."""
    from .models import ApprovalRequest
    from .notifiers import notifier_for

    for receiver, outcome in _EVENTS[event].send_robust(
        sender=ApprovalRequest, request=request, **extra
    ):
        if isinstance(outcome, Exception):
            logger.error("Receiver %r of approval_%s failed", receiver, event, exc_info=outcome)
    try:
        notifier_for(request).notify(event, request)
    except Exception:
        logger.exception("Notifying %s of approval request %s failed", event, request.request_id)
