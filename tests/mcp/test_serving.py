"""Agent endpoints served to MCP clients over real HTTP (uvicorn), called with the SDK's client."""

from __future__ import annotations

import json

import pytest
from rest_framework.authtoken.models import Token

from agentic_django.models import ExecutionTrace

from .conftest import mcp_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def mcp_everywhere(settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "MCP": True}


async def test_lists_and_calls_an_endpoint(asgi_server, token, mcp_everywhere):
    async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
        listed = await client.list_tools()
        names = {tool.name for tool in listed.tools}
        assert "echo" in names
        result = await client.call_tool("echo", {"intent": "show orders"})
    assert not result.is_error
    body = json.loads(result.content[0].text)
    assert body["result"]["raw"] == "show orders"
    trace = await ExecutionTrace.objects.aget(trace_id=body["trace_id"])
    assert trace.transport == "mcp"
