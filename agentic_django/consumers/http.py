"""HTTP streaming consumers: start a run and stream it, follow a run, follow an approval.

Each consumer answers errors with the agent API's JSON error shape before any
event is sent. Once streaming, the response is SSE (``event:``, ``id: <seq>``,
``data:``) or NDJSON, with keepalives while idle. A client going away stops
its stream, never the run (unless the endpoint says ``on_disconnect="cancel"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from rest_framework import exceptions

from ..api.errors import PayloadTooLarge, error_body
from ..conf import agentic_settings
from ..core.exceptions import AgenticError, http_status_for
from ..core.storable import loads_bounded
from ..registry import AgentEndpointDef, NotRegistered, agents
from ..services import runs
from ..services.approval_watch import watch_approval
from ..services.run_follow import follow
from ..streaming import framing
from .auth import authorize, challenge
from .requests import intent_arguments

logger = logging.getLogger("agentic_django.streaming")

#: Room for JSON framing around the largest intent.
_BODY_SLACK = 64 * 1024


class StreamingHttpConsumer(AsyncConsumer):
    """Collects the request body, then serves the response from a task of its own.

    The task leaves the consumer free to notice the client's disconnect while
    the response is still streaming.
    """

    site = agents
    allowed_methods: tuple[str, ...] = ("GET",)
    #: No channel of its own (Channels gives one per consumer by default): followers
    #: subscribe with their own, and an unused one costs memory per open stream.
    channel_layer_alias = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body: list[bytes] = []
        self._size = 0
        self._task: asyncio.Task[None] | None = None
        self._started = False

    async def http_request(self, message: dict[str, Any]) -> None:
        if self._task is not None:
            # Already answered (413 for a body too large): one response, no more buffering.
            return
        chunk = message.get("body", b"")
        self._size += len(chunk)
        self._body.append(chunk)
        if message.get("more_body"):
            if self._size > self.body_limit():
                self._task = asyncio.create_task(self._fail_fast(PayloadTooLarge()))
            return
        if self._task is None:
            self._task = asyncio.create_task(self._serve(b"".join(self._body)))

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        await self.client_gone()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        raise StopConsumer()

    def body_limit(self) -> int:
        return agentic_settings.MAX_INTENT_CHARS * 4 + _BODY_SLACK

    async def client_gone(self) -> None:
        """Called when the client disconnects (before its stream is stopped)."""

    async def _fail_fast(self, exc: Exception) -> None:
        await self.send_error(exc)

    async def _serve(self, body: bytes) -> None:
        try:
            if self.scope["method"] not in self.allowed_methods:
                raise exceptions.MethodNotAllowed(self.scope["method"])
            if len(body) > self.body_limit():
                raise PayloadTooLarge()
            await self.serve(body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self.send_error(exc)

    async def serve(self, body: bytes) -> None:
        raise NotImplementedError

    # --- responses ---------------------------------------------------------------------

    async def send_error(self, exc: Exception) -> None:
        if self._started:
            # Mid-stream: the stream itself ends; the client reconnects or gives up.
            logger.exception("Streaming failed", exc_info=exc)
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        status, body, headers = _error_response(exc, self.scope, getattr(self, "endpoint", None))
        if isinstance(exc, exceptions.MethodNotAllowed):
            headers.append((b"allow", ", ".join(self.allowed_methods).encode()))
        await self.send_json(status, body, headers)

    async def send_json(
        self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *(headers or []),
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": payload, "more_body": False})

    async def start_stream(
        self, transport: str, extra_headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [(b"content-type", framing.content_type(transport).encode())]
        headers += [
            (name.lower().encode(), value.encode()) for name, value in framing.STREAM_HEADERS
        ]
        self._started = True
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": headers + (extra_headers or []),
            }
        )
        # Servers send the headers with the first body bytes: open with a keepalive, so
        # a client following an idle run sees the response at once, not at the first event.
        await self.send_chunk(framing.keepalive(transport))

    async def send_chunk(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end_stream(self) -> None:
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def stream_run(self, run_pk: int, run_id: str, since: int, transport: str) -> None:
        """Send the run's events from ``since`` on, until it ends."""
        keepalive = framing.keepalive(transport)
        async for item in follow(run_pk, run_id, since):
            if item is None:
                await self.send_chunk(keepalive)
                continue
            seq, kind, data = item
            await self.send_chunk(framing.frame(transport, kind, seq, data))
        await self.end_stream()

    def query(self) -> dict[str, str]:
        parsed = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return {key: values[-1] for key, values in parsed.items()}

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", []):
            if key == name:
                return value.decode("latin-1")
        return None

    def transport(self, default: str) -> str:
        """``?transport=`` first, then ``Accept: application/x-ndjson``, then ``default``."""
        chosen = self.query().get("transport")
        if chosen is not None:
            if chosen not in framing.TRANSPORTS:
                raise exceptions.ValidationError(
                    {"transport": [f"Must be one of {list(framing.TRANSPORTS)}."]}
                )
            return chosen
        if framing.NDJSON_CONTENT_TYPE in (self.header(b"accept") or ""):
            return "ndjson"
        return default


class AgentStreamConsumer(StreamingHttpConsumer):
    """``POST /agents/<name>/stream/``: run an intent and stream its events."""

    allowed_methods = ("POST",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint: AgentEndpointDef | None = None
        self.run_id: str | None = None

    async def serve(self, body: bytes) -> None:
        name = self.scope["url_route"]["kwargs"]["name"]
        try:
            self.endpoint = endpoint = self.site.get(name)
        except NotRegistered:
            raise exceptions.NotFound(f"No agent endpoint named {name!r}.") from None
        if endpoint.streaming is None:
            raise exceptions.NotFound(f"Agent endpoint {name!r} does not stream.")
        request = await authorize(self.scope, body, endpoint)
        arguments = intent_arguments(endpoint, _json_body(body))
        transport = self.transport(endpoint.streaming)
        run = await runs.start_run(
            self.site, endpoint, user=request.user, request=request, **arguments
        )
        self.run_id = run.run_id
        await self.start_stream(
            transport,
            [
                (b"x-agent-run-id", run.run_id.encode()),
                (b"content-location", f"{_api_root(self.scope)}runs/{run.run_id}/events/".encode()),
            ],
        )
        await self.stream_run(run.pk, run.run_id, -1, transport)

    async def client_gone(self) -> None:
        if self.run_id and self.endpoint is not None and self.endpoint.on_disconnect == "cancel":
            runs.cancel_local(self.run_id)


class RunEventsConsumer(StreamingHttpConsumer):
    """``GET /agents/runs/<run_id>/events/?since=N``: replay, then follow until the run ends."""

    async def serve(self, body: bytes) -> None:
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        since = _since(self.query().get("since"), self.header(b"last-event-id"))
        request = await authorize(self.scope)
        run = await runs.find_visible(run_id, request.user)
        if run is None:
            raise exceptions.NotFound("No such run.")
        endpoint = self.site.endpoints.get(run.endpoint_name)
        transport = self.transport(endpoint.streaming if endpoint and endpoint.streaming else "sse")
        await self.start_stream(transport, [(b"x-agent-run-id", run.run_id.encode())])
        await self.stream_run(run.pk, run.run_id, since, transport)


class ApprovalEventsConsumer(StreamingHttpConsumer):
    """``GET /agents/approvals/<id>/events/``: the request's state now and at every change."""

    async def serve(self, body: bytes) -> None:
        request_id = self.scope["url_route"]["kwargs"]["request_id"]
        request = await authorize(self.scope)
        transport = self.transport("sse")
        watch = watch_approval(request_id, request.user)
        first = await anext(watch, None)
        if first is None:
            raise exceptions.NotFound("No such approval request.")
        await self.start_stream(transport)
        seq = 0
        item: Any = first
        while True:
            if item is None:
                await self.send_chunk(framing.keepalive(transport))
            else:
                data = framing.event_json(item)
                await self.send_chunk(framing.frame(transport, "approval", seq, data))
                seq += 1
            item = await anext(watch, StopAsyncIteration)
            if item is StopAsyncIteration:
                break
        await self.end_stream()


def _json_body(body: bytes) -> Any:
    try:
        return loads_bounded(
            body or b"null",
            max_depth=agentic_settings.MAX_RESULT_DEPTH,
            parse_constant=_refuse_constant,
        )
    except ValueError as exc:  # bad UTF-8, bad JSON, NaN, too deep
        raise exceptions.ParseError(f"JSON parse error - {exc}") from None


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (DRF's parser refuses them too).
    raise ValueError(f"{name} is not valid JSON")


def _since(raw: str | None, last_event_id: str | None) -> int:
    value = raw if raw is not None else last_event_id
    if value is None or value == "":
        return -1
    try:
        since = int(value)
    except ValueError:
        raise exceptions.ValidationError({"since": ["Must be an integer."]}) from None
    if since < -1:
        raise exceptions.ValidationError({"since": ["Must be -1 or more."]})
    return since


def _api_root(scope: dict[str, Any]) -> str:
    """The path the agent API is mounted at, from this request's path."""
    path: str = scope.get("root_path", "") + scope["path"]
    for marker in ("/runs/", "/approvals/"):
        if marker in path:
            return path.split(marker)[0] + "/"
    return path.rstrip("/").rsplit("/", 2)[0] + "/"


def _error_response(
    exc: Exception, scope: dict[str, Any], endpoint: Any
) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, exceptions.APIException):
        status = exc.status_code
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            # As a DRF view does: a 401 names the scheme to authenticate with, else 403.
            scheme = challenge(scope, endpoint)
            status = 401 if scheme else 403
            if scheme:
                headers.append((b"www-authenticate", scheme.encode()))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers.append((b"retry-after", str(int(exc.wait)).encode()))
        return status, error_body(exc), headers
    if isinstance(exc, AgenticError):
        # Refused before a run started (the agent is switched off).
        body = {"status": "error", "error": str(exc) or exc.code, "code": exc.code}
        return http_status_for(exc), body, headers
    logger.exception("Streaming request failed", exc_info=exc)
    return 500, {"status": "error", "error": "Internal server error", "code": "error"}, headers
