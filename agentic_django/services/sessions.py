"""Sessions bound to their owners.

A ``session_id`` is only honoured for its owner and while it has not expired;
anything else (unknown id, someone else's session, an expired one) starts a new
session with a fresh id, so a guessed or leaked id never reveals or extends
another user's conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..conf import agentic_settings
from ..models import AgentSession, new_id


@dataclass
class SessionState:
    """The session a request runs in; ``pk`` is ``None`` until it is first saved."""

    session_id: str
    pk: int | None = None
    context: dict[str, Any] = field(default_factory=dict)
    turn_count: int = 0

    @property
    def is_new(self) -> bool:
        return self.pk is None


def user_pk(user: Any) -> int | None:
    """The primary key of an authenticated user, ``None`` for anonymous callers."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def load_session(session_id: str | None, user: Any) -> SessionState:
    """Return the caller's live session ``session_id`` or a new, unsaved one."""
    if session_id:
        owner = user_pk(user)
        row = (
            AgentSession.objects.active()
            .filter(session_id=session_id, user_id=owner)
            .values_list("pk", "context", "turn_count")
            .first()
        )
        if row is not None:
            pk, context, turn_count = row
            return SessionState(session_id, pk, dict(context or {}), turn_count)
    return SessionState(new_id())


def save_session(state: SessionState, user: Any) -> AgentSession:
    """Create or touch the session row, extending its expiry; returns the saved row."""
    now = timezone.now()
    expires_at = now + timedelta(seconds=agentic_settings.SESSION_TTL_SECONDS)
    state.turn_count += 1
    if state.pk is None:
        session = AgentSession.objects.create(
            session_id=state.session_id,
            user_id=user_pk(user),
            context=state.context,
            turn_count=state.turn_count,
            created_at=now,
            last_accessed_at=now,
            expires_at=expires_at,
        )
        state.pk = session.pk
        return session
    AgentSession.objects.filter(pk=state.pk).update(
        context=state.context,
        turn_count=state.turn_count,
        last_accessed_at=now,
        expires_at=expires_at,
    )
    return AgentSession(pk=state.pk, session_id=state.session_id)
