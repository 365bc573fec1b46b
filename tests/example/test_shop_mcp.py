"""The shop over MCP: catalog and orders served to an MCP client, and the delivery agent
using the shipping MCP server (a subprocess over stdio) as its tool."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("mcp")

from tests.mcp.conftest import mcp_client

pytestmark = pytest.mark.integration


def test_catalog_and_orders_are_served_over_mcp(shop):
    async def session() -> tuple[set[str], dict]:
        async with mcp_client(f"{shop.base}/agents/mcp/", shop.tokens["ada"]) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("catalog", {"intent": "show me lamps"})
            return names, result.structured_content

    names, body = asyncio.run(session())
    assert {"catalog", "orders"} <= names
    assert "analytics" not in names  # not opted in
    assert body["status"] == "completed" and "products" in json.dumps(body["result"])
    [(transport,)] = shop.query(
        "SELECT transport FROM agentic_django_executiontrace WHERE trace_id = ?", body["trace_id"]
    )
    assert transport == "mcp"


def test_the_delivery_agent_asks_the_shipping_mcp_server(shop):
    status, body = shop.post("delivery", {"intent": "how long is delivery to DE?"}, user="ada")
    assert status == 200, body
    assert body["result"] == "Delivery to DE takes 3 days with DHL."
    trace = shop.trace(body["execution_trace_id"])
    [call] = trace["tool_calls"]
    assert (call["tool"], call["arguments"], call["error"]) == (
        "delivery_estimate",
        {"country": "DE"},
        None,
    )
