"""A broken channel layer delays followers by a poll interval; it never loses them events."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from agentic_django.models import AgentRun, StreamEvent
from agentic_django.services import run_follow, run_store

pytestmark = pytest.mark.django_db(transaction=True)


class BrokenLayer:
    """Joins groups, then fails every receive and every leave (like a Redis timeout)."""

    def __init__(self) -> None:
        self.receives = 0
        self.discards = 0

    async def new_channel(self) -> str:
        return "broken!1"

    async def group_add(self, group: str, channel: str) -> None:
        return None

    async def receive(self, channel: str) -> dict:
        self.receives += 1
        raise ConnectionError("Timeout reading from 127.0.0.1:6379")

    async def group_discard(self, group: str, channel: str) -> None:
        self.discards += 1
        raise ConnectionError("Too many connections")


@override_settings(AGENTIC_DJANGO={"STREAM_KEEPALIVE_SECONDS": 0.2, "STREAM_POLL_SECONDS": 0.05})
async def test_a_follower_survives_a_failing_layer(monkeypatch):
    layer = BrokenLayer()
    monkeypatch.setattr(run_store, "get_channel_layer", lambda: layer)
    run = await AgentRun.objects.acreate(endpoint_name="chatty")

    async def collect() -> list:
        return [item async for item in run_follow.follow(run.pk, run.run_id) if item]

    follower = asyncio.create_task(collect())
    await asyncio.sleep(0.3)  # the follower is waiting, its receives failing

    def finish() -> None:
        for seq, kind in enumerate(["partial_result", "partial_result", "final"]):
            StreamEvent.objects.create(run=run, seq=seq, kind=kind, payload={"seq": seq})
        AgentRun.objects.filter(pk=run.pk).update(last_seq=2, status="completed")

    await sync_to_async(finish)()
    events = await asyncio.wait_for(follower, 20)
    assert [(seq, kind) for seq, kind, _ in events] == [
        (0, "partial_result"),
        (1, "partial_result"),
        (2, "final"),
    ]
    assert layer.receives >= 1 and layer.discards == 1


async def test_a_layer_that_cannot_be_joined_means_polling(monkeypatch):
    class Unreachable(BrokenLayer):
        async def group_add(self, group: str, channel: str) -> None:
            raise ConnectionError("Connection refused")

    layer = Unreachable()
    monkeypatch.setattr(run_store, "get_channel_layer", lambda: layer)
    async with run_follow.Subscription("agentic.run.x") as subscription:
        assert subscription.layer is None and not subscription.shared
        assert await subscription.receive(0.01) is None
    assert layer.receives == layer.discards == 0
