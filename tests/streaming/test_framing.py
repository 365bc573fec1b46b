"""Wire framing: SSE messages, NDJSON lines, keepalives and content types."""

from __future__ import annotations

import json
import re

import pytest

from agentic_django.streaming import ThoughtEvent
from agentic_django.streaming.framing import (
    NDJSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    STREAM_HEADERS,
    TRANSPORTS,
    content_type,
    event_json,
    frame,
    keepalive,
    ndjson_line,
    sse_comment,
    sse_frame,
)


def sse_fields(raw: bytes) -> list[tuple[str, str]]:
    """Parse one SSE message the way the spec does: lines end at CRLF, LF or CR."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n")
    lines = re.split(r"\r\n|\r|\n", text[:-2])
    return [tuple(line.split(": ", 1)) for line in lines]  # type: ignore[misc]


def test_sse_frame_exact_bytes():
    assert sse_frame("thought", 7, '{"kind":"thought"}') == (
        b'event: thought\nid: 7\ndata: {"kind":"thought"}\n\n'
    )


def test_sse_frame_seq_zero():
    assert sse_frame("final", 0, "{}") == b"event: final\nid: 0\ndata: {}\n\n"


def test_event_json_is_compact():
    assert event_json({"a": 1, "b": [1, 2], "c": {"d": None}}) == (
        '{"a":1,"b":[1,2],"c":{"d":null}}'
    )


def test_event_json_preserves_non_ascii():
    text = event_json({"text": "café ✓ 日本"})
    assert text == '{"text":"café ✓ 日本"}'
    assert "\\u" not in text
    assert sse_frame("thought", 1, text) == (
        'event: thought\nid: 1\ndata: {"text":"café ✓ 日本"}\n\n'.encode()
    )


def test_newline_in_a_string_stays_on_one_data_line():
    payload = {"text": "line one\nline two\r\nline three\rend\ttab"}
    data = event_json(payload)
    assert "\n" not in data and "\r" not in data
    fields = sse_fields(sse_frame("thought", 4, data))
    assert [name for name, _ in fields] == ["event", "id", "data"]
    assert json.loads(fields[2][1]) == payload


def test_a_real_event_frames_and_parses_back():
    event = ThoughtEvent(text="first\nsecond — ünïcode", seq=9)
    data = event_json(event.to_wire())
    fields = dict(sse_fields(sse_frame(event.kind, event.seq, data)))
    assert fields["event"] == "thought"
    assert fields["id"] == "9"
    assert json.loads(fields["data"]) == event.to_wire()

    line = ndjson_line(data)
    assert line.count(b"\n") == 1
    assert json.loads(line) == event.to_wire()


def test_ndjson_line():
    assert ndjson_line('{"a":1}') == b'{"a":1}\n'
    assert ndjson_line('{"t":"é"}') == '{"t":"é"}\n'.encode()


def test_sse_comment():
    assert sse_comment() == b": keepalive\n\n"
    assert sse_comment("hello") == b": hello\n\n"


def test_keepalive_per_transport():
    assert keepalive("sse") == b": keepalive\n\n"
    assert keepalive("ndjson") == b"\n"


def test_content_type_per_transport():
    assert content_type("sse") == SSE_CONTENT_TYPE == "text/event-stream"
    assert content_type("ndjson") == NDJSON_CONTENT_TYPE == "application/x-ndjson"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_frame_dispatches_on_transport(transport):
    data = '{"kind":"final","seq":2}'
    expected = sse_frame("final", 2, data) if transport == "sse" else ndjson_line(data)
    assert frame(transport, "final", 2, data) == expected


def test_frame_sse_and_ndjson_differ():
    data = "{}"
    assert frame("sse", "error", 5, data) == b"event: error\nid: 5\ndata: {}\n\n"
    assert frame("ndjson", "error", 5, data) == b"{}\n"


def test_transports_and_stream_headers():
    assert TRANSPORTS == ("sse", "ndjson")
    headers = dict(STREAM_HEADERS)
    assert headers["X-Accel-Buffering"] == "no"
    assert "no-cache" in headers["Cache-Control"]
