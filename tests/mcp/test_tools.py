"""MCP servers' tools used by agents through the harness (the SDK server of ``servers.py``).

The server runs over stdio (a subprocess) and over Streamable HTTP (uvicorn on
loopback); the model is the mock backend, so each test scripts the tool calls.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission

from agentic_django import PolicyViolation
from agentic_django.harness import ApprovalRule, ApprovalWorkflow, PIIPolicy
from agentic_django.llm import ToolCall
from agentic_django.mcp.connections import connections
from agentic_django.mcp.tools import mcp_tools
from agentic_django.models import ApprovalRequest, ExecutionTrace
from agentic_django.runtime import LoopConfig

from .conftest import ROOT, LiveServer, free_port

pytestmark = pytest.mark.django_db(transaction=True)

STDIO = {"COMMAND": [sys.executable, "-m", "tests.mcp.servers"], "CWD": str(ROOT)}


@pytest.fixture
def http_mcp_server() -> Iterator[str]:
    from tests.mcp.servers import http_app

    server = LiveServer(http_app(), lifespan="on").start()
    yield f"{server.url}/mcp"
    server.stop()


@pytest.fixture
def servers(settings, http_mcp_server):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "MCP_SERVERS": {
            "local": {**STDIO, "TIMEOUT_SECONDS": 2, "MAX_RESULT_CHARS": 1000},
            "remote": {"URL": http_mcp_server},
            "down": {"URL": f"http://127.0.0.1:{free_port()}/mcp", "CONNECT_TIMEOUT_SECONDS": 3},
            # Starts, then never says a word.
            "mute": {
                "COMMAND": [sys.executable, "-c", "import time; time.sleep(600)"],
                "CONNECT_TIMEOUT_SECONDS": 1,
            },
        },
    }


@pytest.fixture
async def fresh_connections():
    """Every test starts without pooled connections and closes the ones it opened."""
    yield
    await connections.close_all()


def tool_messages(mock_llm) -> list[dict]:
    """What the model was told each tool returned, in order."""
    last = mock_llm.prompts[-1]
    return [json.loads(m.content) for m in last.messages if m.role == "tool"]


def offered(mock_llm) -> set[str]:
    return {tool["name"] for tool in mock_llm.prompts[0].tools}


async def test_a_stdio_servers_tool_runs_in_the_loop_and_is_traced(
    site, servers, mock_llm, fresh_connections
):
    @site.agent_endpoint("shop", tools=[mcp_tools("local", only=["stock", "pid"])])
    async def shop(intent):
        return None

    mock_llm.add_tool_call_response(ToolCall(id="c1", name="stock", arguments={"sku": "A1"}))
    mock_llm.add_response("4 in stock.")
    response = await site.process_intent("is A1 in stock?", endpoint_name="shop")
    assert response.result == "4 in stock."
    assert offered(mock_llm) == {"stock", "pid"}
    assert tool_messages(mock_llm) == [{"sku": "A1", "stock": 4}]
    trace = await ExecutionTrace.objects.aget()
    assert [(c["tool"], c["arguments"], c["error"]) for c in trace.tool_calls] == [
        ("stock", {"sku": "A1"}, None)
    ]


async def test_a_streamable_http_servers_tool_runs_with_a_prefix(
    site, servers, mock_llm, fresh_connections
):
    @site.agent_endpoint("shop", tools=[mcp_tools("remote", only=["stock"], prefix="remote_")])
    async def shop(intent):
        return None

    mock_llm.add_tool_call_response(ToolCall(id="c1", name="remote_stock", arguments={"sku": "B2"}))
    mock_llm.add_response("4 of B2.")
    response = await site.process_intent("stock of B2?", endpoint_name="shop")
    assert response.result == "4 of B2."
    assert offered(mock_llm) == {"remote_stock"}
    assert tool_messages(mock_llm) == [{"sku": "B2", "stock": 4}]


async def test_hostile_tools_are_hidden_withheld_bounded_and_timed_out(
    site, servers, mock_llm, fresh_connections
):
    @site.agent_endpoint("shop", tools=[mcp_tools("local")], loop_config=LoopConfig())
    async def shop(intent):
        return None

    mock_llm.add_tool_call_response(
        [
            ToolCall(id="c1", name="huge", arguments={}),
            ToolCall(id="c2", name="poisoned", arguments={}),
            ToolCall(id="c3", name="hang", arguments={}),
            ToolCall(id="c4", name="stock", arguments={"sku": "A1"}),
        ]
    )
    mock_llm.add_response("done")
    response = await site.process_intent("try everything", endpoint_name="shop")
    assert response.status == "completed"
    # The description carrying an injection is never shown to the model.
    assert "trap" not in offered(mock_llm) and "stock" in offered(mock_llm)
    huge, poisoned, hang, stock = tool_messages(mock_llm)
    assert isinstance(huge, str) and len(huge) < 1100 and "truncated" in huge
    assert "withheld" in poisoned["error"] and "evil@example.com" not in json.dumps(poisoned)
    assert "did not answer within 2 seconds" in hang["error"]
    # After a call that never answered, the server is reached on a fresh connection.
    assert stock == {"sku": "A1", "stock": 4}


async def test_a_server_that_is_down_is_an_error_the_model_reads(
    site, servers, mock_llm, fresh_connections
):
    @site.agent_endpoint("shop", tools=[mcp_tools("down", only=["stock"])])
    async def shop(intent):
        return None

    mock_llm.add_tool_call_response(ToolCall(id="c1", name="stock", arguments={"sku": "A1"}))
    mock_llm.add_response("The stock service is down, sorry.")
    response = await site.process_intent("is A1 in stock?", endpoint_name="shop")
    assert response.status == "completed"
    assert response.result == "The stock service is down, sorry."
    [message] = tool_messages(mock_llm)
    assert "'down' is unavailable" in message["error"]
    trace = await ExecutionTrace.objects.aget()
    assert trace.tool_calls[0]["error"] == message["error"]


async def test_a_server_that_died_is_restarted(site, servers, mock_llm, fresh_connections):
    @site.agent_endpoint("shop", tools=[mcp_tools("local", only=["pid", "crash"])])
    async def shop(intent):
        return None

    mock_llm.add_tool_call_response(
        [
            ToolCall(id="c1", name="pid", arguments={}),
            ToolCall(id="c2", name="crash", arguments={}),
            ToolCall(id="c3", name="pid", arguments={}),
        ]
    )
    mock_llm.add_response("ok")
    await site.process_intent("restart", endpoint_name="shop")
    before, crashed, after = tool_messages(mock_llm)
    assert "error" in crashed
    # The SDK wraps a bare return value as {"result": value}.
    assert isinstance(before["result"], int) and before["result"] != after["result"]


async def test_argument_policies_apply_to_mcp_tools(site, servers, mock_llm, fresh_connections):
    @site.agent_endpoint(
        "shop", tools=[mcp_tools("local", only=["stock"])], policies=[PIIPolicy(mode="block")]
    )
    async def shop(intent):
        return None

    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="stock", arguments={"sku": "bob@example.com"})
    )
    with pytest.raises(PolicyViolation, match="email"):
        await site.process_intent("stock of it", endpoint_name="shop")
    trace = await ExecutionTrace.objects.aget()
    assert trace.status == "policy_denied" and trace.tool_calls == []


def test_an_approved_mcp_call_runs_after_the_decision_on_a_new_connection(
    client, site, servers, mock_llm, user, django_user_model
):
    boss = django_user_model.objects.create_user("boss", password="pw")
    boss.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    approval = ApprovalWorkflow([ApprovalRule(name="deletes", approvers=["user:boss"])])

    @site.agent_endpoint(
        "catalog_admin",
        tools=[mcp_tools("local", only=["delete_product"], requires_approval=["delete_product"])],
        approval=approval,
    )
    async def catalog_admin(intent):
        return None

    client.force_login(user)
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="delete_product", arguments={"sku": "A1"})
    )
    paused = client.post(
        "/agents/catalog_admin/", {"intent": "delete A1"}, content_type="application/json"
    )
    assert paused.status_code == 202, paused.json()
    request = paused.json()["approval_request"]
    stored = ApprovalRequest.objects.get(request_id=request["id"])
    assert (stored.kind, stored.action["tool"]) == ("tool_call", "delete_product")

    client.force_login(boss)
    mock_llm.add_response("A1 is deleted.")
    decided = client.post(
        f"{request['url']}decision/", {"decision": "approve"}, content_type="application/json"
    )
    assert decided.json()["status"] == "executed", decided.json()
    carried = ExecutionTrace.objects.get(approval_request=stored)
    assert [(c["tool"], c["result_summary"]) for c in carried.tool_calls] == [
        ("delete_product", '{"result": "deleted A1"}')
    ]


async def test_a_server_that_never_answers_the_handshake_is_an_error_the_model_reads(
    site, servers, mock_llm, fresh_connections
):
    @site.agent_endpoint("shop", tools=[mcp_tools("mute", only=["stock"])])
    async def shop(intent):
        return None

    mock_llm.add_tool_call_response(ToolCall(id="c1", name="stock", arguments={"sku": "A1"}))
    mock_llm.add_response("No answer from the stock service.")
    response = await site.process_intent("is A1 in stock?", endpoint_name="shop")
    assert response.result == "No answer from the stock service."
    [message] = tool_messages(mock_llm)
    assert message == {"error": "MCP server 'mute' did not answer within 1 seconds."}
