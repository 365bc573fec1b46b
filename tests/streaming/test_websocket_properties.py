"""Property-based: whatever message a WebSocket client sends, of any type, the answer is a
reply (never a close with 1011) and the socket stays open for the next message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.permissions import AllowAny

from agentic_django import Intent
from agentic_django.asgi import get_application
from agentic_django.models import ApprovalRequest
from agentic_django.services import runs
from agentic_django.streaming import AgentStream

from ..api.test_request_properties import json_values

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 20

field = st.one_of(json_values, st.text(max_size=40))
messages = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("intent")},
        optional={"intent": field, "session_id": field, "params": field},
    ),
    st.fixed_dictionaries(
        {"type": st.just("decision")},
        optional={"approval_id": field, "decision": field, "reason": field},
    ),
    st.fixed_dictionaries(
        {"type": st.just("subscribe")}, optional={"run_id": field, "since": field}
    ),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    json_values,
)


@pytest.fixture
def quick(site):
    # Public on purpose: the property is about messages, not about who sends them.
    @site.agent_endpoint("quick", streaming=True, permission_classes=[AllowAny])
    async def handler(intent: Intent, stream: AgentStream):
        return {"ok": True}


async def exchange(frames: list[Any]) -> list[dict[str, Any]]:
    socket = WebsocketCommunicator(get_application(), "/agents/quick/ws/")
    connected, _ = await socket.connect(timeout=TIMEOUT)
    assert connected
    replies = []
    try:
        for frame in frames:
            await socket.send_to(text_data=json.dumps(frame))
            reply = await socket.receive_json_from(timeout=TIMEOUT)
            assert reply["type"] in ("run", "error", "decision", "event"), reply
            replies.append(reply)
            if reply["type"] == "run":
                await runs.wait_local(reply["run_id"])
        # Still open: a well-formed message is answered.
        await socket.send_json_to({"type": "subscribe", "run_id": "none"})
        while (reply := await socket.receive_json_from(timeout=TIMEOUT))["type"] == "event":
            pass
        assert reply["type"] == "error" and reply["code"] == "not_found", reply
    finally:
        await socket.disconnect(timeout=TIMEOUT)
    return replies


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(messages, min_size=1, max_size=4))
def test_any_message_gets_a_reply_and_the_socket_stays_open(quick, frames):
    before = ApprovalRequest.objects.count()
    async_to_sync(exchange)(frames)
    # No message of an anonymous client decides or creates an approval.
    assert ApprovalRequest.objects.count() == before
