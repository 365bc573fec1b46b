"""``ws://…/agents/<name>/ws/``: send intents and decisions, receive the runs' events.

Client → server (JSON text frames):

- ``{"type": "intent", "intent": "…", "session_id"?: "…", "params"?: {…}}``
- ``{"type": "decision", "approval_id": "…", "decision": "approve", "reason"?: "…"}``
- ``{"type": "subscribe", "run_id": "…", "since"?: N}``

Server → client: ``{"type": "run", "run_id"}`` when a run starts,
``{"type": "event", "run_id", "event": {…}}`` for each event,
``{"type": "decision", "approval_id", "status", "decision"}`` and
``{"type": "error", "code", "message"}``; an error never closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework import exceptions

from ..api.errors import error_body, first_message
from ..conf import agentic_settings
from ..core.exceptions import AgenticError
from ..core.storable import TooDeep, loads_bounded
from ..models import ApprovalRequest
from ..registry import AgentEndpointDef, NotRegistered, agents
from ..services import runs
from ..services.run_follow import follow
from ..services.stream_approvals import decide_stream
from .auth import authorize, check_throttles, origin_allowed
from .requests import intent_arguments

logger = logging.getLogger("agentic_django.streaming")

#: Close codes (4000 + the HTTP status they stand for).
CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404

MAX_FRAME_BYTES = 256 * 1024


class AgentSocketConsumer(AsyncWebsocketConsumer):
    site = agents

    async def connect(self) -> None:
        self.endpoint: AgentEndpointDef | None = None
        self.user: Any = None
        self.request: Any = None
        self.followers: dict[str, asyncio.Task[None]] = {}
        self.started: set[str] = set()
        if not origin_allowed(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        name = self.scope["url_route"]["kwargs"]["name"]
        try:
            endpoint = self.site.get(name)
        except NotRegistered:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if endpoint.streaming is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        try:
            # Throttles count the intents sent (each one a run, like a POST), not connections.
            self.request = await authorize(self.scope, endpoint=endpoint, throttle=False)
        except (exceptions.NotAuthenticated, exceptions.AuthenticationFailed):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        except exceptions.APIException:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.endpoint = endpoint
        self.user = self.request.user
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "followers", {}).values():
            task.cancel()
        if self.endpoint is not None and self.endpoint.on_disconnect == "cancel":
            for run_id in self.started:
                runs.cancel_local(run_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error("invalid_message", "Send JSON text frames, not binary ones.")
            return
        if len(text_data) > MAX_FRAME_BYTES:
            await self.send_error("invalid_message", "The message is too large.")
            return
        try:
            message = loads_bounded(
                text_data, max_depth=agentic_settings.MAX_RESULT_DEPTH, parse_constant=_refuse
            )
        except TooDeep as exc:
            await self.send_error("invalid_message", str(exc))
            return
        except ValueError:
            await self.send_error("invalid_message", "The message is not valid JSON.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.send_error("invalid_message", 'Send an object with a "type".')
            return
        handler = {
            "intent": self.on_intent,
            "decision": self.on_decision,
            "subscribe": self.on_subscribe,
        }.get(message["type"])
        if handler is None:
            await self.send_error(
                "unknown_type", f"Unknown message type {message['type']!r}.", message
            )
            return
        if not await self.reauthorize():
            return
        try:
            await handler(message)
        except exceptions.APIException as exc:
            code = error_body(exc)["code"]
            await self.send_error(code, first_message(exc.detail), message)
        except AgenticError as exc:
            await self.send_error(exc.code, str(exc) or exc.code, message)

    async def reauthorize(self) -> bool:
        """Authenticate again before each action: a deleted token, a deactivated user or
        an ended session stops the socket at its next message, not at its next connect."""
        assert self.endpoint is not None
        try:
            self.request = await authorize(self.scope, endpoint=self.endpoint, throttle=False)
        except exceptions.APIException as exc:
            unauthenticated = isinstance(
                exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed
            )
            await self.send_error(
                "not_authenticated" if unauthenticated else "permission_denied",
                "Your credentials are no longer valid."
                if unauthenticated
                else first_message(exc.detail),
            )
            await self.close(code=CLOSE_UNAUTHENTICATED if unauthenticated else CLOSE_FORBIDDEN)
            return False
        self.user = self.request.user
        return True

    # --- messages ----------------------------------------------------------------------

    async def on_intent(self, message: dict[str, Any]) -> None:
        assert self.endpoint is not None
        await check_throttles(self.request, self.endpoint)
        arguments = intent_arguments(
            self.endpoint, {key: value for key, value in message.items() if key != "type"}
        )
        run = await runs.start_run(
            self.site, self.endpoint, user=self.user, request=self.request, **arguments
        )
        self.started.add(run.run_id)
        await self.send(text_data=json.dumps({"type": "run", "run_id": run.run_id}))
        self._follow(run.pk, run.run_id, -1)

    async def on_subscribe(self, message: dict[str, Any]) -> None:
        run_id, since = message.get("run_id"), message.get("since", -1)
        if not isinstance(run_id, str) or not run_id:
            raise exceptions.ValidationError({"run_id": ["A run id is required."]})
        if isinstance(since, bool) or not isinstance(since, int) or since < -1:
            raise exceptions.ValidationError({"since": ["Must be an integer, -1 or more."]})
        run = await runs.find_visible(run_id, self.user)
        if run is None:
            raise exceptions.NotFound("No such run.")
        self._follow(run.pk, run.run_id, since)

    async def on_decision(self, message: dict[str, Any]) -> None:
        approval_id, decision = message.get("approval_id"), message.get("decision")
        reason = message.get("reason", "")
        if not isinstance(approval_id, str) or not isinstance(decision, str):
            raise exceptions.ValidationError(
                {"decision": ['"approval_id" and "decision" must be strings.']}
            )
        if not isinstance(reason, str):
            raise exceptions.ValidationError({"reason": ["Must be a string."]})
        try:
            request = await database_sync_to_async(decide_stream)(
                approval_id, self.user, decision, reason=reason[:2000]
            )
        except ApprovalRequest.DoesNotExist:
            raise exceptions.NotFound("No such approval request.") from None
        await self.send(
            text_data=json.dumps(
                {
                    "type": "decision",
                    "approval_id": approval_id,
                    "status": request.status,
                    "decision": decision,
                }
            )
        )

    # --- helpers -----------------------------------------------------------------------

    def _follow(self, run_pk: int, run_id: str, since: int) -> None:
        previous = self.followers.pop(run_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._pump(run_pk, run_id, since))
        self.followers[run_id] = task

    async def _pump(self, run_pk: int, run_id: str, since: int) -> None:
        prefix = '{"type":"event","run_id":' + json.dumps(run_id) + ',"event":'
        try:
            async for item in follow(run_pk, run_id, since):
                if item is not None:
                    await self.send(text_data=prefix + item[2] + "}")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Following run %s over a WebSocket failed", run_id)
            with contextlib.suppress(Exception):
                await self.send_error("error", "Following the run failed.")
        finally:
            if self.followers.get(run_id) is asyncio.current_task():
                self.followers.pop(run_id, None)

    async def send_error(self, code: str, text: str, message: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"type": "error", "code": code, "message": text}
        if message is not None and isinstance(message.get("type"), str):
            body["in_reply_to"] = message["type"]
        await self.send(text_data=json.dumps(body))


def _refuse(name: str) -> Any:
    # NaN and Infinity are not JSON; the HTTP API refuses them too.
    raise ValueError(f"{name} is not valid JSON")
