"""Storing a run's events in batches and publishing them on the channel layer.

Events are written before they are published, so whoever hears of an event can
also read it from the database: a follower that sees a gap in the sequence
numbers fills it from there. Each run's events go to the group
``agentic.run.<run_id>``, one message per stored batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from ..conf import agentic_settings
from ..models import AgentRun, RunStatus, StreamEvent
from ..observability import metrics
from ..streaming import AgentEvent
from ..streaming.framing import event_json
from .db import run_db
from .serialization import to_storable
from .traces import _write_lock

logger = logging.getLogger("agentic_django.streaming")

#: Kinds stored and published before ``emit`` returns: the run cannot go on (or end)
#: until everyone can see them.
DURABLE_KINDS = frozenset({"approval_requested", "approval_resolved", "final", "error"})

#: An event as it travels: (seq, kind, JSON text).
WireEvent = tuple[int, str, str]


def run_group(run_id: str) -> str:
    return f"agentic.run.{run_id}"


def approval_group(request_id: str) -> str:
    return f"agentic.approval.{request_id}"


def process_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def channel_layer() -> Any:
    """The configured channel layer, or ``None`` (followers then poll the database)."""
    return get_channel_layer()


def layer_is_shared(layer: Any) -> bool:
    """False for no layer and for the in-memory one, which does not cross processes."""
    if layer is None:
        return False
    from channels.layers import InMemoryChannelLayer

    return not isinstance(layer, InMemoryChannelLayer)


async def publish(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to ``group``; a layer failure is logged, never raised.

    Followers also read the database, so a lost message delays them, it does
    not lose events.
    """
    layer = channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, message)
    except Exception:
        logger.warning("Publishing to %s failed", group, exc_info=True)


def publish_sync(group: str, message: dict[str, Any]) -> None:
    """:func:`publish` for synchronous callers (signal receivers, commands, workers)."""
    if channel_layer() is None:
        return
    from asgiref.sync import async_to_sync

    async_to_sync(publish)(group, message)


def _store_batch(run_pk: int, rows: list[tuple[int, str, dict[str, Any]]]) -> None:
    with _write_lock(), transaction.atomic():
        StreamEvent.objects.bulk_create(
            StreamEvent(run_id=run_pk, seq=seq, kind=kind, payload=payload)
            for seq, kind, payload in rows
        )
        AgentRun.objects.filter(pk=run_pk).update(last_seq=rows[-1][0], heartbeat_at=timezone.now())


def storable_wire(event: AgentEvent) -> dict[str, Any]:
    """The wire form of ``event``, made storable: a hostile partial result (say, from a
    model) must not stop the stream, so its bad parts become visible stand-ins."""
    try:
        wire = event.to_wire()
    except ValueError:
        # Nested beyond what pydantic serialises: take the fields as they are.
        wire = {name: getattr(event, name) for name in type(event).model_fields}
    payload: dict[str, Any] = to_storable(wire)
    return payload


class EventWriter:
    """The sink of one run's :class:`AgentStream`: batches, stores, publishes.

    While one batch is being written the next one fills up, so a fast emitter
    pays for an INSERT per batch, not per event, and an idle run's first event
    is written at once.
    """

    def __init__(self, run: AgentRun) -> None:
        self.run = run
        self.group = run_group(run.run_id)
        self._pending: list[tuple[int, str, dict[str, Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    async def __call__(self, event: AgentEvent) -> None:
        if self._failure is not None:
            raise RuntimeError("Storing the run's events failed.") from self._failure
        self._pending.append((event.seq, event.kind, storable_wire(event)))
        metrics.observe_stream_event(event.kind)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        batch = agentic_settings.STREAM_EVENT_BATCH
        if event.kind in DURABLE_KINDS or len(self._pending) >= batch * 4:
            await self.drain()

    async def drain(self) -> None:
        """Wait until every event handed over so far is stored and published."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)
        if self._failure is not None:
            raise RuntimeError("Storing the run's events failed.") from self._failure

    async def _flush(self) -> None:
        batch_size = agentic_settings.STREAM_EVENT_BATCH
        try:
            while self._pending:
                batch = self._pending[:batch_size]
                del self._pending[:batch_size]
                await run_db(_store_batch, self.run.pk, batch)
                await publish(
                    self.group,
                    {
                        "type": "agentic.events",
                        "events": [
                            [seq, kind, event_json(payload)] for seq, kind, payload in batch
                        ],
                    },
                )
        except BaseException as exc:
            self._failure = exc
            logger.exception("Storing events of run %s failed", self.run.run_id)


# --- reading -----------------------------------------------------------------------------


def events_after(run_pk: int, since: int, limit: int) -> list[WireEvent]:
    """Up to ``limit`` stored events with ``seq > since``, in order."""
    rows = (
        StreamEvent.objects.filter(run_id=run_pk, seq__gt=since)
        .order_by("seq")
        .values_list("seq", "kind", "payload")[:limit]
    )
    return [(seq, kind, event_json(payload)) for seq, kind, payload in rows]


def run_state(run_pk: int) -> tuple[str, int] | None:
    """``(status, last_seq)`` of a run, or ``None`` once it is gone."""
    row = AgentRun.objects.filter(pk=run_pk).values_list("status", "last_seq").first()
    return (row[0], row[1]) if row else None


def set_status(run_pk: int, status: str, *, finished: bool = False) -> None:
    now = timezone.now()
    changes: dict[str, Any] = {"status": status, "heartbeat_at": now}
    if finished:
        changes["finished_at"] = now
    AgentRun.objects.filter(pk=run_pk).update(**changes)


def touch(run_pk: int) -> None:
    AgentRun.objects.filter(
        pk=run_pk, status__in=[RunStatus.RUNNING, RunStatus.WAITING_APPROVAL]
    ).update(heartbeat_at=timezone.now())
