"""Hostile values on the streaming transports (SSE, NDJSON, WebSocket): the stream
ends with an error event carrying a code, and the run keeps its trace and events."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.permissions import AllowAny

from agentic_django import Intent
from agentic_django.asgi import get_application
from agentic_django.models import ExecutionTrace, StreamEvent
from agentic_django.streaming import AgentStream

from ..api.test_hostile_output import HOSTILE
from .asgi_client import post, settle_runs

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]

TIMEOUT = 20


@pytest.fixture(autouse=True)
async def _settle():
    yield
    await settle_runs()


@pytest.fixture
def hostile_stream(site):
    # Public on purpose: these tests are about the values, not about who asks.
    @site.agent_endpoint("hostile_stream", streaming="sse", permission_classes=[AllowAny])
    async def handler(intent: Intent, stream: AgentStream):
        await stream.emit_partial("part", data=HOSTILE[intent.raw][0])
        return HOSTILE[intent.raw][0]


async def stored_trace(trace_id: str) -> ExecutionTrace:
    return await ExecutionTrace.objects.aget(trace_id=trace_id)


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_sse_a_hostile_result_ends_the_stream_with_a_coded_error(hostile_stream, case):
    response = await post("/agents/hostile_stream/stream/", {"intent": case})
    assert response.status == 200
    events = response.sse()
    assert [event.kind for event in events] == ["partial_result", "error"]
    error = events[-1].data
    assert error["code"] == "unstorable_value"
    trace = await stored_trace(error["trace_id"])
    assert trace.status == "error"
    # What was streamed is what was stored, stand-ins included.
    stored = [row.payload async for row in StreamEvent.objects.order_by("seq")]
    assert stored == [event.data for event in events]


@pytest.mark.parametrize("case", ["nan", "surrogate", "nul", "deep"])
async def test_websocket_a_hostile_result_ends_the_run_with_a_coded_error(hostile_stream, case):
    socket = WebsocketCommunicator(get_application(), "/agents/hostile_stream/ws/")
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    try:
        await socket.send_json_to({"type": "intent", "intent": case})
        kinds = []
        while not kinds or kinds[-1] not in ("final", "error"):
            message = await socket.receive_json_from(timeout=TIMEOUT)
            if message["type"] == "event":
                kinds.append(message["event"]["kind"])
                last = message["event"]
        assert kinds == ["partial_result", "error"]
        assert last["code"] == "unstorable_value"
        assert (await stored_trace(last["trace_id"])).status == "error"
    finally:
        await socket.disconnect(timeout=TIMEOUT)


DEEP_TEXT = "[" * 5000 + "]" * 5000
OVER_LIMIT = '{"type": "intent", "intent": "x", "params": ' + "[" * 200 + "]" * 200 + "}"


@pytest.mark.parametrize(
    "body", [DEEP_TEXT, OVER_LIMIT, '{"intent": NaN}'], ids=["recursion", "over-limit", "nan"]
)
async def test_a_stream_request_with_a_bad_body_is_400(body):
    response = await post(
        "/agents/chatty/stream/", body, headers={"content-type": "application/json"}
    )
    assert response.status == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize(
    "frame", [DEEP_TEXT, OVER_LIMIT, "{not json", '{"type": "intent", "intent": NaN}']
)
async def test_a_bad_websocket_frame_is_an_error_message_and_the_socket_stays_open(frame):
    socket = WebsocketCommunicator(get_application(), "/agents/chatty/ws/")
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    try:
        await socket.send_to(text_data=frame)
        message = await socket.receive_json_from(timeout=TIMEOUT)
        assert message["type"] == "error"
        assert message["code"] == "invalid_message"
        # Still open: the next, valid message is served.
        await socket.send_json_to({"type": "subscribe", "run_id": "nope"})
        message = await socket.receive_json_from(timeout=TIMEOUT)
        assert message["type"] == "error"
        assert message["code"] == "not_found"
    finally:
        await socket.disconnect(timeout=TIMEOUT)
