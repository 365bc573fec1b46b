"""Agent endpoints served to MCP clients over real HTTP (uvicorn), called with the SDK's client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAdminUser
from rest_framework.throttling import UserRateThrottle

from agentic_django import agents
from agentic_django.llm import MockBackend, ToolCall
from agentic_django.models import Agent, ApprovalRequest, ExecutionTrace
from agentic_django.registry import build_endpoint
from agentic_django.runtime import tool
from agentic_django.testing import use_llm

from .conftest import mcp_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def mcp_everywhere(settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "MCP": True}


@tool(requires_approval=True)
def refund(order_id: int) -> dict:
    """Refund an order."""
    return {"refunded": order_id}


async def _admins_only(intent):
    return {"secret": True}


async def _hidden(intent):
    return {"hidden": True}


class OncePerMinute(UserRateThrottle):
    rate = "1/min"
    scope = "mcp-tests"


async def _throttled(intent):
    return {"ok": True}


async def _refunds(intent):
    return "Refund what the customer asks for."


@pytest.fixture
def extra_endpoints() -> Iterator[None]:
    """Endpoints only these tests serve: admin-only, opted out, and one needing approval."""
    defined = [
        build_endpoint("mcp_admin", _admins_only, mcp=True, permission_classes=[IsAdminUser]),
        build_endpoint("mcp_hidden", _hidden, mcp=False),
        build_endpoint("mcp_refunds", _refunds, mcp=True, tools=[refund]),
        build_endpoint("mcp_throttled", _throttled, mcp=True, throttle_classes=[OncePerMinute]),
    ]
    for endpoint in defined:
        agents.register(endpoint)
    yield
    for endpoint in defined:
        agents.unregister(endpoint.name)


def _body(result) -> dict:
    return json.loads(result.content[0].text)


async def test_lists_and_calls_an_endpoint(asgi_server, token, mcp_everywhere):
    async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
        listed = await client.list_tools()
        names = {tool.name for tool in listed.tools}
        assert "echo" in names
        result = await client.call_tool("echo", {"intent": "show orders"})
    assert not result.is_error
    body = _body(result)
    assert body["result"]["raw"] == "show orders"
    assert result.structured_content == body
    trace = await ExecutionTrace.objects.aget(trace_id=body["trace_id"])
    assert trace.transport == "mcp"
    assert await ExecutionTrace.objects.acount() == 1


async def test_a_typed_endpoint_declares_its_params_and_result(asgi_server, token, mcp_everywhere):
    async with mcp_client(f"{asgi_server.url}/agents/mcp", token) as client:
        listed = await client.list_tools()
        orders = next(tool for tool in listed.tools if tool.name == "orders")
        assert orders.input_schema["required"] == ["intent"]
        assert set(orders.input_schema["properties"]["params"]["properties"]) == {"status", "limit"}
        result_schema = orders.output_schema["properties"]["result"]["anyOf"][0]
        assert result_schema["properties"]["count"]["type"] == "integer"
        good = await client.call_tool(
            "orders", {"intent": "list shipped orders", "params": {"status": "shipped"}}
        )
        bad = await client.call_tool(
            "orders", {"intent": "list orders", "params": {"limit": "many"}}
        )
    assert not good.is_error
    assert good.structured_content["result"] == {"count": 3}
    assert bad.is_error
    assert "limit" in bad.content[0].text and "integer" in bad.content[0].text
    # A call refused before the pipeline leaves no trace, as over HTTP.
    assert await ExecutionTrace.objects.acount() == 1


async def test_unauthenticated_clients_get_401_and_never_a_tool_list(asgi_server, mcp_everywhere):
    with pytest.raises(Exception):  # noqa: B017 — the SDK surfaces the 401 as a transport error
        async with mcp_client(f"{asgi_server.url}/agents/mcp/") as client:
            await client.list_tools()
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{asgi_server.url}/agents/mcp/",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={
                "Accept": "application/json, text/event-stream",
                "Authorization": "Token not-a-real-token",
            },
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Token"
    assert "tools" not in response.text


async def test_tools_follow_each_endpoints_permissions_and_opt_in(
    asgi_server, token, extra_endpoints, django_user_model
):
    admin = await django_user_model.objects.acreate(username="root", is_staff=True)
    admin_token = (await Token.objects.acreate(user=admin)).key
    url = f"{asgi_server.url}/agents/mcp/"
    async with mcp_client(url, token) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        refused = await client.call_tool("mcp_admin", {"intent": "tell me"})
    async with mcp_client(url, admin_token) as client:
        admin_names = {tool.name for tool in (await client.list_tools()).tools}
        allowed = await client.call_tool("mcp_admin", {"intent": "tell me"})
    # MCP is off in settings: only the endpoints that opted in are served.
    assert names == {"mcp_refunds", "mcp_throttled"}
    assert admin_names == {"mcp_admin", "mcp_refunds", "mcp_throttled"}
    assert refused.is_error and "PermissionDenied" in refused.content[0].text
    assert not allowed.is_error and allowed.structured_content["result"] == {"secret": True}
    trace = await ExecutionTrace.objects.aget()
    assert (trace.endpoint_name, trace.user_id, trace.transport) == ("mcp_admin", admin.pk, "mcp")


async def test_a_disabled_agent_answers_with_an_error_result(asgi_server, token, mcp_everywhere):
    await Agent.objects.aupdate_or_create(name="echo", defaults={"enabled": False})
    async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
        result = await client.call_tool("echo", {"intent": "hello"})
    assert result.is_error
    assert result.structured_content["status"] == "agent_disabled"
    trace = await ExecutionTrace.objects.aget()
    assert (trace.status, trace.transport) == ("agent_disabled", "mcp")


async def test_an_action_needing_approval_returns_its_request_at_once(
    asgi_server, token, extra_endpoints
):
    backend = MockBackend()
    backend.add_tool_call_response(ToolCall(id="c1", name="refund", arguments={"order_id": 7}))
    with use_llm(backend):
        async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
            result = await client.call_tool("mcp_refunds", {"intent": "refund order 7"})
    assert not result.is_error
    body = result.structured_content
    assert body["status"] == "pending_approval"
    pending = await ApprovalRequest.objects.aget()
    assert body["approval_request"]["id"] == pending.request_id
    assert body["approval_request"]["url"] == (
        f"{asgi_server.url}/agents/approvals/{pending.request_id}/"
    )


async def test_a_streaming_endpoint_reports_progress(asgi_server, token, mcp_everywhere):
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
        result = await client.call_tool(
            "chatty", {"intent": "send 4 parts"}, progress_callback=on_progress
        )
    assert not result.is_error
    assert result.structured_content["result"] == {"parts": 4}
    assert [message for _, message in seen] == ["part 0", "part 1", "part 2", "part 3"]
    assert [progress for progress, _ in seen] == [1, 2, 3, 4]
    trace = await ExecutionTrace.objects.aget()
    assert trace.transport == "mcp"


async def test_a_stream_waiting_for_approval_does_not_hold_the_call(
    asgi_server, token, mcp_everywhere
):
    async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
        result = await client.call_tool("ask", {"intent": "refund it, wait 30"})
    body = result.structured_content
    assert body["status"] == "pending_approval"
    pending = await ApprovalRequest.objects.aget()
    assert body["approval_request"]["id"] == pending.request_id
    assert body["approval_request"]["events_url"].startswith(
        f"{asgi_server.url}/agents/runs/{body['run_id']}/events/"
    )


async def test_a_host_outside_allowed_hosts_is_refused(asgi_server, token, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{asgi_server.url}/agents/mcp/",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={"Host": "evil.example", "Authorization": f"Token {token}"},
        )
    assert response.status_code == 400


async def test_sessions_continue_for_their_user_only(
    asgi_server, token, other_user, mcp_everywhere
):
    other_token = (await Token.objects.acreate(user=other_user)).key
    url = f"{asgi_server.url}/agents/mcp/"
    async with mcp_client(url, token) as client:
        first = await client.call_tool("echo", {"intent": "hello"})
        session_id = first.structured_content["session_id"]
        again = await client.call_tool("echo", {"intent": "again", "session_id": session_id})
    async with mcp_client(url, other_token) as client:
        stolen = await client.call_tool("echo", {"intent": "peek", "session_id": session_id})
    assert again.structured_content["session_id"] == session_id
    # Another user's session id starts a new session instead of reading that one.
    assert stolen.structured_content["session_id"] != session_id


async def test_each_call_spends_the_endpoints_throttle(asgi_server, token, extra_endpoints):
    from django.core.cache import cache

    await sync_to_async(cache.clear)()
    async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
        # Listing spends nothing; the first call passes, the second is throttled.
        await client.list_tools()
        first = await client.call_tool("mcp_throttled", {"intent": "once"})
        second = await client.call_tool("mcp_throttled", {"intent": "twice"})
    assert not first.is_error
    assert second.is_error and "Throttled" in second.content[0].text
    assert await ExecutionTrace.objects.acount() == 1


async def test_concurrent_first_requests_all_get_answers(asgi_server, token, mcp_everywhere):
    async def list_names() -> set[str]:
        async with mcp_client(f"{asgi_server.url}/agents/mcp/", token) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    listings = await asyncio.gather(*(list_names() for _ in range(4)))
    assert all("echo" in names for names in listings)
