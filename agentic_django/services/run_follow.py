"""Following a run: replay its stored events, then the live ones, until it ends.

Works from any process. The follower joins the run's channel layer group
*before* reading the database, so nothing published in between is missed;
events it has already passed on are skipped, and a gap in the sequence (a
dropped message) is filled from the database, where every published event
already is. Without a shared channel layer it polls the database instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from ..conf import agentic_settings
from ..models import LIVE_RUN_STATES
from ..streaming import TERMINAL_KINDS
from .db import run_db
from .run_store import WireEvent, channel_layer, events_after, layer_is_shared, run_group, run_state

REPLAY_PAGE = 1000

logger = logging.getLogger("agentic_django.streaming")


class Subscription:
    """A private channel in a group, or nothing when there is no channel layer."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.layer = channel_layer()
        self.channel: str | None = None

    async def __aenter__(self) -> Subscription:
        if self.layer is not None:
            try:
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, self.channel)
            except Exception:
                # Without the layer the follower still works, reading the database.
                logger.warning("Joining %s failed; polling instead", self.group, exc_info=True)
                self.layer = self.channel = None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.layer is not None and self.channel is not None:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception:
                # The group entry expires on its own (the layer's group_expiry).
                logger.warning("Leaving %s failed", self.group, exc_info=True)

    @property
    def shared(self) -> bool:
        return layer_is_shared(self.layer)

    async def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or ``None`` after ``timeout`` seconds."""
        if self.layer is None or self.channel is None:
            await asyncio.sleep(timeout)
            return None
        try:
            message: dict[str, Any] = await asyncio.wait_for(
                self.layer.receive(self.channel), timeout
            )
        except TimeoutError:
            return None
        except Exception:
            # A layer failure (a Redis timeout or a full connection pool) costs this
            # follower a poll interval, not its stream: the database has every event.
            logger.warning("Receiving on %s failed", self.group, exc_info=True)
            await asyncio.sleep(timeout)
            return None
        return message


async def follow(run_pk: int, run_id: str, since: int = -1) -> AsyncIterator[WireEvent | None]:
    """Yield the run's events with ``seq > since``, exactly once and in order.

    Yields ``None`` when the stream has been idle for ``STREAM_KEEPALIVE_SECONDS``
    (time for a keepalive). Ends after the ``final`` or ``error`` event, or when
    the run stopped without one.
    """
    keepalive = float(agentic_settings.STREAM_KEEPALIVE_SECONDS)
    async with Subscription(run_group(run_id)) as subscription:
        # With a shared layer the database is only a safety net; without one it is the feed.
        poll = keepalive if subscription.shared else float(agentic_settings.STREAM_POLL_SECONDS)
        poll = min(poll, keepalive)
        last = since
        while True:
            page = await run_db(events_after, run_pk, last, REPLAY_PAGE)
            for event in page:
                yield event
                last = event[0]
                if event[1] in TERMINAL_KINDS:
                    return
            if len(page) < REPLAY_PAGE:
                break
        quiet_since = time.monotonic()
        while True:
            message = await subscription.receive(poll)
            fresh: list[WireEvent] = []
            if message is not None and message.get("type") == "agentic.events":
                batch = [tuple(item) for item in message["events"]]
                if batch and batch[-1][0] > last:
                    if batch[0][0] > last + 1:
                        # Messages were dropped (a full channel): read the gap back.
                        fresh = await run_db(events_after, run_pk, last, batch[0][0] - last - 1)
                    fresh += [event for event in batch if event[0] > last]  # type: ignore[misc]
            elif message is None:
                state = await run_db(run_state, run_pk)
                if state is None:
                    return
                status, last_seq = state
                if last_seq > last:
                    fresh = await run_db(events_after, run_pk, last, REPLAY_PAGE)
                elif status not in LIVE_RUN_STATES:
                    return
            for event in fresh:
                if event[0] != last + 1:
                    # Out of order can only mean a gap the database has not filled yet.
                    break
                yield event
                last = event[0]
                quiet_since = time.monotonic()
                if event[1] in TERMINAL_KINDS:
                    return
            if time.monotonic() - quiet_since >= keepalive:
                yield None
                quiet_since = time.monotonic()
