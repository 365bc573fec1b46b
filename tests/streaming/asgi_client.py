"""Driving ``agentic_django.asgi.get_application()`` in tests, one ASGI message at a time.

``open_request`` starts a request on an :class:`~asgiref.testing.ApplicationCommunicator`
and returns an :class:`HttpStream`, which reads the response start message and then
body chunks until ``more_body`` is false. SSE frames and NDJSON lines are parsed
as they arrive, so a test can read a stream event by event (to act in the middle
of a run) or all at once.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from asgiref.testing import ApplicationCommunicator

#: Generous: only a hang guard, never a measure of speed.
TIMEOUT = 20.0

_application: Any = None


def application() -> Any:
    """One ASGI application for the whole test session (routing is stateless)."""
    global _application
    if _application is None:
        from agentic_django.asgi import get_application

        _application = get_application()
    return _application


@dataclass
class Event:
    """One parsed stream event: SSE ``event``/``id``/``data``, or an NDJSON line."""

    kind: str
    id: int | None
    data: dict[str, Any]
    raw: str = ""

    @property
    def seq(self) -> int:
        return int(self.data["seq"])


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    def sse(self) -> list[Event]:
        return parse_sse(self.body)

    def ndjson(self) -> list[Event]:
        return parse_ndjson(self.body)


def _sse_block(block: str) -> Event | None:
    """An SSE message (lines without the blank separator); ``None`` for a comment-only one."""
    fields: dict[str, list[str]] = {}
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
    if not fields:
        return None
    data = "\n".join(fields.get("data", []))
    ids = fields.get("id")
    return Event(
        kind=fields.get("event", ["message"])[-1],
        id=int(ids[-1]) if ids else None,
        data=json.loads(data),
        raw=block,
    )


def parse_sse(body: bytes) -> list[Event]:
    """Every SSE event of a complete body (keepalive comments skipped)."""
    text = body.decode()
    assert text == "" or text.endswith("\n\n"), f"SSE body ends mid-frame: {text[-80:]!r}"
    events = []
    for block in text.split("\n\n"):
        event = _sse_block(block)
        if event is not None:
            events.append(event)
    return events


def parse_ndjson(body: bytes) -> list[Event]:
    """Every NDJSON event of a complete body (empty keepalive lines skipped)."""
    text = body.decode()
    assert text == "" or text.endswith("\n"), f"NDJSON body ends mid-line: {text[-80:]!r}"
    events = []
    for line in text.split("\n"):
        if line.strip():
            data = json.loads(line)
            events.append(Event(kind=data["kind"], id=None, data=data, raw=line))
    return events


def build_scope(
    method: str,
    path: str,
    *,
    query: dict[str, Any] | str | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    cookies: dict[str, str] | None = None,
) -> dict[str, Any]:
    query_string = urlencode(query) if isinstance(query, dict) else query or ""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    raw_headers = [(b"host", b"testserver")]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in items]
    if cookies:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        raw_headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query_string.encode(),
        "headers": raw_headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


class HttpStream:
    """One request in flight: read its response start, then its body, chunk by chunk."""

    def __init__(self, communicator: ApplicationCommunicator) -> None:
        self.communicator = communicator
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.finished = False
        self._buffer = ""
        self._transport: str | None = None
        self.events: list[Event] = []
        self._unread = 0

    # --- raw messages ------------------------------------------------------------------

    async def start(self, timeout: float = TIMEOUT) -> HttpStream:
        """Read the ``http.response.start`` message (once)."""
        if self.status is None:
            message = await self.communicator.receive_output(timeout)
            assert message["type"] == "http.response.start", message
            self.status = message["status"]
            self.headers = [
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in message.get("headers", [])
            ]
        return self

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def next_chunk(self, timeout: float = TIMEOUT) -> bytes:
        """The next body chunk (``b""`` once the body is over)."""
        await self.start(timeout)
        if self.finished:
            return b""
        message = await self.communicator.receive_output(timeout)
        assert message["type"] == "http.response.body", message
        chunk = message.get("body", b"")
        self.chunks.append(chunk)
        if not message.get("more_body", False):
            self.finished = True
        self._feed(chunk)
        return chunk

    async def read_all(self, timeout: float = TIMEOUT) -> Response:
        """Read to the end of the body; returns the whole response."""
        await self.start(timeout)
        while not self.finished:
            await self.next_chunk(timeout)
        return self.response()

    def response(self) -> Response:
        assert self.status is not None
        return Response(self.status, self.headers, b"".join(self.chunks), list(self.chunks))

    # --- events ------------------------------------------------------------------------

    def _feed(self, chunk: bytes) -> None:
        if self._transport is None:
            content_type = self.header("content-type") or ""
            if content_type.startswith("text/event-stream"):
                self._transport = "sse"
            elif content_type.startswith("application/x-ndjson"):
                self._transport = "ndjson"
            else:
                return
        self._buffer += chunk.decode()
        separator = "\n\n" if self._transport == "sse" else "\n"
        while separator in self._buffer:
            block, self._buffer = self._buffer.split(separator, 1)
            if self._transport == "sse":
                event = _sse_block(block)
            elif block.strip():
                data = json.loads(block)
                event = Event(kind=data["kind"], id=None, data=data, raw=block)
            else:
                event = None
            if event is not None:
                self.events.append(event)

    async def next_event(self, timeout: float = TIMEOUT) -> Event | None:
        """The next event not returned yet, or ``None`` once the body ended without one."""
        while self._unread >= len(self.events):
            if self.finished:
                return None
            await self.next_chunk(timeout)
        event = self.events[self._unread]
        self._unread += 1
        return event

    async def read_until(self, kind: str, timeout: float = TIMEOUT) -> list[Event]:
        """Events up to and including the first one of ``kind``."""
        seen = []
        while True:
            event = await self.next_event(timeout)
            assert event is not None, f"The stream ended before a {kind!r} event: {seen}"
            seen.append(event)
            if event.kind == kind:
                return seen

    async def read_events(self, timeout: float = TIMEOUT) -> list[Event]:
        """All remaining events, to the end of the body."""
        rest = []
        while (event := await self.next_event(timeout)) is not None:
            rest.append(event)
        return rest

    # --- ending ------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Tell the application the client went away, and wait for it to stop."""
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(TIMEOUT)

    async def close(self) -> None:
        """After the response: the server says the client is gone, as servers do."""
        if not self.communicator.future.done():
            await self.disconnect()


async def open_request(
    method: str,
    path: str,
    *,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    query: dict[str, Any] | str | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    cookies: dict[str, str] | None = None,
    app: Any = None,
) -> HttpStream:
    """Start a request; a dict or list ``body`` is sent as JSON (with its content type)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        if not any(name.lower() == "content-type" for name, _ in items):
            items.append(("content-type", "application/json"))
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = body or b""
    if payload:
        items.append(("content-length", str(len(payload))))
    scope = build_scope(method, path, query=query, headers=items, cookies=cookies)
    communicator = ApplicationCommunicator(app or application(), scope)
    await communicator.send_input({"type": "http.request", "body": payload, "more_body": False})
    return HttpStream(communicator)


async def request(method: str, path: str, **kwargs: Any) -> Response:
    """A whole request: its complete response (the client then goes away)."""
    stream = await open_request(method, path, **kwargs)
    try:
        return await stream.read_all()
    finally:
        await stream.close()


async def post(path: str, body: Any = None, **kwargs: Any) -> Response:
    return await request("POST", path, body=body, **kwargs)


async def get(path: str, **kwargs: Any) -> Response:
    return await request("GET", path, **kwargs)


def token_header(key: str) -> dict[str, str]:
    return {"authorization": f"Token {key}"}


def assert_contiguous(events: list[Event], start: int = 0) -> None:
    """Seqs ``start``, ``start + 1``… with no gap or repeat; SSE ids (if any) equal the seq."""
    seqs = [event.seq for event in events]
    assert seqs == list(range(start, start + len(events))), seqs
    for event in events:
        assert event.kind == event.data["kind"]
        if event.id is not None:
            assert event.id == event.seq


async def settle_runs(timeout: float = TIMEOUT) -> None:
    """Let the runs this process started end (cancel any still going after ``timeout``).

    Tests call it on teardown, so no run outlives its test's event loop and database.
    """
    from agentic_django.services import runs

    tasks = list(runs._live.values())
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
