"""Who hears about approval requests: the log by default, or e-mail.

An endpoint's ``ApprovalWorkflow(notifier=...)`` picks one; any object with
``notify(event, request)`` will do. Events: ``requested``, ``decided``,
``executed``, ``expiring``, ``expired``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger("agentic_django.approvals")


class LoggingNotifier:
    """Logs every event at INFO on ``agentic_django.approvals``."""

    def notify(self, event: str, request: Any) -> None:
        logger.info(
            "Approval request %s (%s on %s) %s: status %s",
            request.request_id,
            request.kind,
            request.endpoint_name,
            event,
            request.status,
        )


class EmailNotifier:
    """E-mails the people who may decide a new request (and the requester its outcome).

    ``recipients`` lists addresses, or is a callable ``(request) -> addresses`` to
    resolve them (for example the members of the approving group). Uses Django's
    mail settings; ``admin_url`` builds the link in the message.
    """

    def __init__(
        self,
        recipients: Iterable[str] | Callable[[Any], Iterable[str]],
        *,
        from_email: str | None = None,
        admin_url: Callable[[Any], str] | None = None,
    ) -> None:
        self.recipients = recipients
        self.from_email = from_email
        self.admin_url = admin_url

    def _to(self, request: Any) -> list[str]:
        found = self.recipients(request) if callable(self.recipients) else self.recipients
        return [address for address in found if address]

    def notify(self, event: str, request: Any) -> None:
        if event in ("requested", "expiring"):
            to = self._to(request)
        elif event in ("decided", "executed", "expired") and request.requested_by_id:
            to = [request.requested_by.email] if request.requested_by.email else []
        else:
            to = []
        if not to:
            return
        link = f"\n\n{self.admin_url(request)}" if self.admin_url else ""
        send_mail(
            subject=f"[agents] {request.endpoint_name}: approval {event} ({request.status})",
            message=f"{request.summary}\n\nRequest {request.request_id}, "
            f"expires {request.expires_at:%Y-%m-%d %H:%M %Z}.{link}",
            from_email=self.from_email or settings.DEFAULT_FROM_EMAIL,
            recipient_list=to,
        )


_default = LoggingNotifier()


def notifier_for(request: Any) -> Any:
    """The notifier of the request's endpoint, or the logging one."""
    from .registry import NotRegistered, agents

    try:
        approval = agents.get(request.endpoint_name).approval
    except NotRegistered:
        return _default
    return (approval.notifier if approval is not None else None) or _default
