from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from agentic_django.models import AgentSession, ExecutionTrace

pytestmark = pytest.mark.django_db


def make_session(expired: bool) -> AgentSession:
    now = timezone.now()
    return AgentSession.objects.create(
        expires_at=now - timedelta(seconds=1) if expired else now + timedelta(hours=1)
    )


def make_trace(age_days: int) -> ExecutionTrace:
    return ExecutionTrace.objects.create(
        endpoint_name="e",
        status="completed",
        intent_raw="x",
        created_at=timezone.now() - timedelta(days=age_days),
    )


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 30})
def test_cleanup_deletes_expired_sessions_and_old_traces_in_batches():
    live = make_session(expired=False)
    for _ in range(5):
        make_session(expired=True)
    recent = make_trace(age_days=1)
    for _ in range(7):
        make_trace(age_days=31)
    out = StringIO()
    call_command("agentic_cleanup", "--batch-size", "2", stdout=out)
    assert list(AgentSession.objects.all()) == [live]
    assert list(ExecutionTrace.objects.all()) == [recent]
    assert "traces: deleted 7" in out.getvalue()
    assert "sessions: deleted 5" in out.getvalue()


def test_dry_run_deletes_nothing():
    make_session(expired=True)
    out = StringIO()
    call_command("agentic_cleanup", "--dry-run", stdout=out)
    assert AgentSession.objects.count() == 1
    assert "sessions: would delete 1" in out.getvalue()
