"""The run services under the transports: recovering lost runs, batching events, following.

``recover_stale`` fails runs whose process stopped, ``EventWriter`` stores a
fast emitter's events in batches, and ``follow`` replays and follows them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from agentic_django.conf import agentic_settings
from agentic_django.models import (
    AgentRun,
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    RunStatus,
    StreamEvent,
)
from agentic_django.services import run_store
from agentic_django.services.run_follow import follow
from agentic_django.services.run_store import EventWriter
from agentic_django.services.runs import recover_stale
from agentic_django.streaming import AgentStream, ThoughtEvent, parse_event
from agentic_django.streaming.framing import event_json

from .asgi_client import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)


def make_run(
    *,
    status: str = RunStatus.RUNNING,
    silent_for: timedelta = timedelta(hours=1),
    events: int = 2,
    user=None,
) -> AgentRun:
    """A run as a process would have left it: ``events`` thoughts stored, last heard of long ago."""
    run = AgentRun.objects.create(
        endpoint_name="ask",
        user=user,
        status=status,
        last_seq=events - 1,
        heartbeat_at=timezone.now() - silent_for,
        worker="elsewhere:1",
    )
    StreamEvent.objects.bulk_create(
        StreamEvent(
            run=run,
            seq=seq,
            kind="thought",
            payload=ThoughtEvent(seq=seq, text=f"thought {seq}").to_wire(),
        )
        for seq in range(events)
    )
    return run


def make_stream_approval(run: AgentRun, status: str = ApprovalStatus.PENDING) -> ApprovalRequest:
    action = {
        "prompt": "Proceed?",
        "options": ["approve", "reject"],
        "default_decision": "reject",
        "owner_may_decide": True,
        "run_id": run.run_id,
    }
    return ApprovalRequest.objects.create(
        kind=ApprovalKind.STREAM,
        status=status,
        endpoint_name=run.endpoint_name,
        run=run,
        rule_name="default",
        action=action,
        fingerprint="f" * 64,
        expires_at=timezone.now() + timedelta(hours=1),
    )


def events_of(run: AgentRun) -> list[tuple[int, str, dict]]:
    return list(
        StreamEvent.objects.filter(run=run).order_by("seq").values_list("seq", "kind", "payload")
    )


# --- recover_stale ----------------------------------------------------------------------


def test_recover_stale_fails_a_silent_run():
    run = make_run()
    pending = make_stream_approval(run)
    decided = make_stream_approval(run, ApprovalStatus.APPROVED)
    before = events_of(run)

    recovered = recover_stale(0)

    assert recovered == [run.run_id]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.finished_at is not None
    assert run.last_seq == 2
    rows = events_of(run)
    assert rows[:2] == before
    seq, kind, payload = rows[-1]
    assert (seq, kind) == (2, "error")
    event = parse_event(payload)
    assert event.kind == "error"
    assert event.seq == 2
    assert event.code == "run_lost"
    assert event.status_code == 500
    pending.refresh_from_db()
    decided.refresh_from_db()
    assert pending.status == ApprovalStatus.EXPIRED
    assert decided.status == ApprovalStatus.APPROVED


def test_recover_stale_fails_a_run_waiting_for_approval_with_no_events():
    run = make_run(status=RunStatus.WAITING_APPROVAL, events=0)

    assert recover_stale(0) == [run.run_id]

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.last_seq == 0
    assert [(seq, kind) for seq, kind, _ in events_of(run)] == [(0, "error")]


def test_recover_stale_leaves_fresh_and_finished_runs_alone():
    stale = make_run()
    fresh = make_run(silent_for=timedelta(seconds=0))
    fresh_approval = make_stream_approval(fresh)
    finished = make_run(status=RunStatus.COMPLETED)
    failed = make_run(status=RunStatus.FAILED, events=1)
    untouched = {run.pk: events_of(run) for run in (fresh, finished, failed)}

    recovered = recover_stale(60)

    assert recovered == [stale.run_id]
    for run, status in (
        (fresh, RunStatus.RUNNING),
        (finished, RunStatus.COMPLETED),
        (failed, RunStatus.FAILED),
    ):
        last_seq = run.last_seq
        run.refresh_from_db()
        assert run.status == status
        assert run.last_seq == last_seq
        assert events_of(run) == untouched[run.pk]
    fresh_approval.refresh_from_db()
    assert fresh_approval.status == ApprovalStatus.PENDING


def test_recover_stale_uses_the_setting_by_default():
    lost = make_run(silent_for=timedelta(seconds=agentic_settings.RUN_STALE_SECONDS + 60))
    make_run(silent_for=timedelta(seconds=agentic_settings.RUN_STALE_SECONDS / 2))

    assert recover_stale() == [lost.run_id]


def test_recover_stale_dry_run_changes_nothing():
    run = make_run()
    approval = make_stream_approval(run)
    before = events_of(run)

    assert recover_stale(0, dry_run=True) == [run.run_id]

    run.refresh_from_db()
    approval.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.finished_at is None
    assert run.last_seq == 1
    assert events_of(run) == before
    assert approval.status == ApprovalStatus.PENDING
    # A real pass afterwards still finds it.
    assert recover_stale(0) == [run.run_id]


def test_recover_stale_twice_appends_one_error():
    run = make_run()
    assert recover_stale(0) == [run.run_id]
    assert recover_stale(0) == []
    assert [kind for _, kind, _ in events_of(run)] == ["thought", "thought", "error"]


async def test_a_follower_of_a_lost_run_ends_with_run_lost(close_worker_connections):
    run = await sync_to_async(make_run)()
    seen: list = []

    async def collect():
        async for item in follow(run.pk, run.run_id):
            if item is not None:
                seen.append(item)

    follower = asyncio.create_task(collect())
    for _ in range(400):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert [seq for seq, _, _ in seen] == [0, 1]
    assert not follower.done()

    assert await sync_to_async(recover_stale)(0) == [run.run_id]

    await asyncio.wait_for(follower, TIMEOUT)
    assert [(seq, kind) for seq, kind, _ in seen] == [(0, "thought"), (1, "thought"), (2, "error")]
    assert json.loads(seen[-1][2])["code"] == "run_lost"


# --- EventWriter ------------------------------------------------------------------------


@pytest.fixture
def store_calls(monkeypatch):
    """The seqs of every batch ``EventWriter`` stores, one list per INSERT."""
    calls: list[list[int]] = []
    original = run_store._store_batch

    def spy(run_pk, rows):
        calls.append([seq for seq, _, _ in rows])
        return original(run_pk, rows)

    monkeypatch.setattr(run_store, "_store_batch", spy)
    return calls


async def emit_many(stream: AgentStream, count: int) -> list:
    """``count - 1`` partial results, then ``final``; returns the emitted events."""
    emitted = [await stream.emit_partial(f"part {index}") for index in range(count - 1)]
    emitted.append(await stream.emit_final({"parts": count - 1}))
    return emitted


async def test_event_writer_stores_a_fast_emitter_in_batches(store_calls, close_worker_connections):
    run = await AgentRun.objects.acreate(endpoint_name="chatty")
    writer = EventWriter(run)
    stream = AgentStream(writer, run_id=run.run_id)

    emitted = await emit_many(stream, 1000)
    await writer.drain()

    rows = [row async for row in StreamEvent.objects.filter(run=run).order_by("seq")]
    assert len(rows) == 1000
    assert [row.seq for row in rows] == list(range(1000))
    assert [row.payload for row in rows] == [event.to_wire() for event in emitted]
    assert rows[-1].kind == "final"
    assert [seq for batch in store_calls for seq in batch] == list(range(1000))
    assert 1 < len(store_calls) < 1000
    assert max(len(batch) for batch in store_calls) <= agentic_settings.STREAM_EVENT_BATCH
    await run.arefresh_from_db()
    assert run.last_seq == 999

    async def replay(since: int = -1) -> list:
        return [item async for item in follow(run.pk, run.run_id, since)]

    # The run is still "running": follow stops because of the final event, not the status.
    assert run.status == RunStatus.RUNNING
    followed = await asyncio.wait_for(replay(), TIMEOUT)
    assert None not in followed
    assert [item[0] for item in followed] == list(range(1000))
    assert [(item[1], json.loads(item[2])) for item in followed] == [
        (row.kind, row.payload) for row in rows
    ]
    assert followed[-1][1] == "final"
    assert followed[-1][2] == event_json(rows[-1].payload)

    tail = await asyncio.wait_for(replay(500), TIMEOUT)
    assert [item[0] for item in tail] == list(range(501, 1000))


async def test_a_durable_event_is_stored_before_emit_returns(store_calls, close_worker_connections):
    run = await AgentRun.objects.acreate(endpoint_name="chatty")
    writer = EventWriter(run)
    stream = AgentStream(writer, run_id=run.run_id)

    await stream.emit_partial("one")
    await stream.emit_partial("two")
    await stream.emit_final({"done": True})

    # No drain(): "final" is durable, so everything before it is stored already.
    assert [seq for batch in store_calls for seq in batch] == [0, 1, 2]
    assert await StreamEvent.objects.filter(run=run).acount() == 3


async def test_follow_live_events_exactly_once(store_calls, close_worker_connections):
    run = await AgentRun.objects.acreate(endpoint_name="chatty")
    writer = EventWriter(run)
    stream = AgentStream(writer, run_id=run.run_id)
    followed: list = []

    async def collect():
        async for item in follow(run.pk, run.run_id):
            if item is not None:
                followed.append(item)

    follower = asyncio.create_task(collect())
    await asyncio.sleep(0.05)
    emitted = []
    for index in range(499):
        emitted.append(await stream.emit_partial(f"part {index}"))
        if index % 50 == 0:
            await asyncio.sleep(0)  # let batches go out while the run goes on
    emitted.append(await stream.emit_final({"parts": 499}))
    await writer.drain()
    await asyncio.wait_for(follower, TIMEOUT)

    assert [item[0] for item in followed] == list(range(500))
    assert [json.loads(item[2]) for item in followed] == [event.to_wire() for event in emitted]
    assert len(store_calls) < 500


async def test_follow_ends_when_the_run_stopped_without_a_terminal_event(
    close_worker_connections,
):
    run = await sync_to_async(make_run)(status=RunStatus.FAILED, events=3)

    items = await asyncio.wait_for(
        _collect(follow(run.pk, run.run_id)),
        TIMEOUT,
    )

    assert [item[0] for item in items if item is not None] == [0, 1, 2]


async def _collect(iterator) -> list:
    return [item async for item in iterator]
