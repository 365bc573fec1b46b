"""``delivery``: an agent whose tool lives in another process, behind MCP.

Its only tool comes from the local ``shipping`` MCP server (``shipping_mcp.py``),
listed when a request starts and called through the same harness as the shop's
own tools: argument policies, the trace's tool-call record, timeouts. Registered
only when the ``mcp`` extra is installed.
"""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated

from agentic_django import Intent, agents
from agentic_django.mcp.tools import mcp_tools


@agents.agent_endpoint(
    "delivery",
    description="Delivery times to a country, asked of the carrier's MCP server",
    tools=[mcp_tools("shipping", only=["delivery_estimate"])],
    permission_classes=[IsAuthenticated],
    tags=["shop"],
)
async def delivery(intent: Intent) -> str:
    return "Answer with the delivery time and the carrier the tool gives."
