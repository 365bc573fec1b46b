from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from agentic_django.models import (
    Agent,
    AgentChange,
    AgentRun,
    AgentSession,
    ApprovalRequest,
    CodeCacheEntry,
    ExecutionTrace,
    LLMCall,
    StreamEvent,
)

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


def make_llm_call(trace: ExecutionTrace | None, age_days: int = 0) -> LLMCall:
    return LLMCall.objects.create(
        trace=trace,
        endpoint_name="e",
        alias="default",
        provider="mock",
        model="mock",
        purpose="handler",
        created_at=timezone.now() - timedelta(days=age_days),
    )


def make_approval(trace: ExecutionTrace, status: str) -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        kind="code",
        status=status,
        endpoint_name="e",
        trace=trace,
        rule_name="r",
        action={},
        fingerprint="f",
        expires_at=timezone.now() + timedelta(hours=1),
    )


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 30})
def test_llm_calls_go_with_their_trace_and_old_calls_outside_traces_go_too():
    old, recent = make_trace(age_days=31), make_trace(age_days=1)
    for _ in range(3):
        make_llm_call(old)
    kept_with_trace = make_llm_call(recent)
    make_llm_call(None, age_days=31)
    recent_orphan = make_llm_call(None, age_days=1)
    out = StringIO()
    call_command("agentic_cleanup", "--batch-size", "2", stdout=out)
    assert "llm calls: deleted 4" in out.getvalue()
    assert set(LLMCall.objects.values_list("pk", flat=True)) == {
        kept_with_trace.pk,
        recent_orphan.pk,
    }


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 30, "LLM_CALL_RETENTION_DAYS": 400})
def test_llm_calls_outside_traces_follow_their_own_retention():
    orphan = make_llm_call(None, age_days=100)
    call_command("agentic_cleanup", stdout=StringIO())
    assert LLMCall.objects.filter(pk=orphan.pk).exists()


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 30})
def test_traces_of_approval_requests_still_open_are_kept():
    open_traces = {}
    for status in ("pending", "approved", "executing"):
        open_traces[status] = make_trace(age_days=40)
        make_approval(open_traces[status], status)
    settled = make_trace(age_days=40)
    settled_request = make_approval(settled, "executed")
    out = StringIO()
    call_command("agentic_cleanup", stdout=out)
    assert "traces: deleted 1" in out.getvalue()
    assert set(ExecutionTrace.objects.values_list("pk", flat=True)) == {
        trace.pk for trace in open_traces.values()
    }
    # The settled request itself stays (the approval audit), without its trace.
    settled_request.refresh_from_db()
    assert settled_request.trace is None


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 30, "RUN_RETENTION_DAYS": 7})
def test_runs_follow_their_own_retention():
    old_run = make_run("completed", 10, events=2)
    kept = make_run("completed", 3, events=2)
    trace = make_trace(age_days=10)
    out = StringIO()
    call_command("agentic_cleanup", stdout=out)
    assert not AgentRun.objects.filter(pk=old_run.pk).exists()
    assert AgentRun.objects.filter(pk=kept.pk).exists()
    assert ExecutionTrace.objects.filter(pk=trace.pk).exists()
    assert "stream events: deleted 2" in out.getvalue()


def make_cache_entry(key: str, expires_in: timedelta | None) -> CodeCacheEntry:
    return CodeCacheEntry.objects.create(
        key=key,
        scope="shared",
        endpoint_name="e",
        code="result = 1",
        expires_at=None if expires_in is None else timezone.now() + expires_in,
    )


def test_expired_code_cache_entries_are_deleted():
    make_cache_entry("old", timedelta(seconds=-1))
    live = make_cache_entry("live", timedelta(hours=1))
    forever = make_cache_entry("forever", None)
    out = StringIO()
    call_command("agentic_cleanup", stdout=out)
    assert "code cache entries: deleted 1" in out.getvalue()
    assert set(CodeCacheEntry.objects.values_list("pk", flat=True)) == {live.pk, forever.pk}


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 30})
def test_dry_run_counts_every_kind_and_deletes_nothing():
    trace = make_trace(age_days=31)
    make_llm_call(trace)
    make_run("failed", 40, events=4)
    make_session(expired=True)
    make_cache_entry("old", timedelta(seconds=-1))
    out = StringIO()
    call_command("agentic_cleanup", "--dry-run", stdout=out)
    assert out.getvalue().splitlines() == [
        "stream events: would delete 4",
        "runs: would delete 1",
        "llm calls: would delete 1",
        "traces: would delete 1",
        "sessions: would delete 1",
        "code cache entries: would delete 1",
    ]
    counts = [
        model.objects.count()
        for model in (StreamEvent, AgentRun, LLMCall, ExecutionTrace, AgentSession, CodeCacheEntry)
    ]
    assert counts == [4, 1, 1, 1, 1, 1]


@override_settings(AGENTIC_DJANGO={"TRACE_RETENTION_DAYS": 1})
def test_agent_settings_and_their_audit_are_never_deleted(django_user_model):
    long_ago = timezone.now() - timedelta(days=1000)
    agent = Agent.objects.create(name="old", created_at=long_ago, updated_at=long_ago)
    AgentChange.objects.create(agent=agent, changed_at=long_ago, changes={"enabled": [True, False]})
    call_command("agentic_cleanup", stdout=StringIO())
    assert Agent.objects.filter(pk=agent.pk).exists()
    assert AgentChange.objects.filter(agent=agent).count() == 1


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(CommandError, match="--batch-size"):
        call_command("agentic_cleanup", "--batch-size", "0", stdout=StringIO())


def test_the_celery_task_applies_the_same_retention(settings):
    from agentic_django.tasks import cleanup as cleanup_task

    old = ExecutionTrace.objects.create(endpoint_name="echo", status="completed", intent_raw="x")
    ExecutionTrace.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    counts = cleanup_task.apply().get()
    assert counts["traces"] == 1
    assert not ExecutionTrace.objects.filter(pk=old.pk).exists()
