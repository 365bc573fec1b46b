from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from agentic_django.models import AgentRun, AgentSession, ExecutionTrace, StreamEvent

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


def make_run(status: str, age_days: int, events: int = 3) -> AgentRun:
    run = AgentRun.objects.create(
        endpoint_name="e", status=status, created_at=timezone.now() - timedelta(days=age_days)
    )
    StreamEvent.objects.bulk_create(
        StreamEvent(run=run, seq=seq, kind="partial_result", payload={}) for seq in range(events)
    )
    return run


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 30})
def test_cleanup_deletes_old_finished_runs_and_their_events_never_live_ones():
    old_done = make_run("completed", 40, events=5)
    old_live = make_run("running", 40)
    recent = make_run("failed", 1)
    out = StringIO()
    call_command("agentic_cleanup", "--batch-size", "2", stdout=out)
    assert "stream events: deleted 5" in out.getvalue()
    assert "runs: deleted 1" in out.getvalue()
    assert not AgentRun.objects.filter(pk=old_done.pk).exists()
    assert set(AgentRun.objects.values_list("pk", flat=True)) == {old_live.pk, recent.pk}
    assert StreamEvent.objects.count() == 6


def test_recover_runs_command_fails_silent_runs_and_reports_them():
    stale = make_run("running", 0)
    AgentRun.objects.filter(pk=stale.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10), last_seq=2
    )
    alive = make_run("running", 0)
    out = StringIO()
    call_command("agentic_recover_runs", "--dry-run", stdout=out)
    assert f"{stale.run_id}: would mark failed" in out.getvalue()
    assert AgentRun.objects.get(pk=stale.pk).status == "running"
    out = StringIO()
    call_command("agentic_recover_runs", "--stale-seconds", "60", stdout=out)
    assert "1 run(s) marked failed." in out.getvalue()
    stale.refresh_from_db()
    assert stale.status == "failed" and stale.last_seq == 3
    last = StreamEvent.objects.get(run=stale, seq=3)
    assert (last.kind, last.payload["code"]) == ("error", "run_lost")
    assert AgentRun.objects.get(pk=alive.pk).status == "running"
