"""Wire framing of events: Server-Sent Events and newline-delimited JSON.

Frames are built from the stored JSON text of an event, so replaying a run
never re-validates or re-serialises what was already written.
"""

from __future__ import annotations

import json
from typing import Any

SSE_CONTENT_TYPE = "text/event-stream"
NDJSON_CONTENT_TYPE = "application/x-ndjson"
TRANSPORTS = ("sse", "ndjson")

#: Response headers that keep proxies (nginx, CDNs) from buffering or transforming a stream.
STREAM_HEADERS = (
    ("Cache-Control", "no-cache, no-transform"),
    ("X-Accel-Buffering", "no"),
)


def event_json(event: dict[str, Any]) -> str:
    """Compact JSON text of a wire event, keys sorted.

    Sorted, so an event reads the same live and replayed whatever order the
    database keeps its keys in (PostgreSQL's ``jsonb`` reorders them).
    """
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def sse_frame(kind: str, seq: int, data: str) -> bytes:
    """One SSE message: ``event:`` the kind, ``id:`` the seq, ``data:`` the JSON text."""
    # JSON text from event_json has no raw newlines, so one data line suffices.
    return f"event: {kind}\nid: {seq}\ndata: {data}\n\n".encode()


def sse_comment(text: str = "keepalive") -> bytes:
    """An SSE comment line: ignored by clients, keeps idle connections open."""
    return f": {text}\n\n".encode()


def ndjson_line(data: str) -> bytes:
    return f"{data}\n".encode()


def frame(transport: str, kind: str, seq: int, data: str) -> bytes:
    """The frame of one event in ``transport``."""
    if transport == "ndjson":
        return ndjson_line(data)
    return sse_frame(kind, seq, data)


def keepalive(transport: str) -> bytes:
    """What keeps an idle stream open: an SSE comment, or an empty NDJSON line."""
    return sse_comment() if transport == "sse" else b"\n"


def content_type(transport: str) -> str:
    return NDJSON_CONTENT_TYPE if transport == "ndjson" else SSE_CONTENT_TYPE
