"""Endpoints using the MCP test server (``tests/mcp/servers.py``), registered with the SDK.

A Celery worker imports them like any project's agents, so it can resume their
paused loops on a connection of its own.
"""

from __future__ import annotations

from agentic_django import agents
from agentic_django.harness import ApprovalRule, ApprovalWorkflow
from agentic_django.llm import FunctionBackend, LLMPrompt, ToolCall
from agentic_django.mcp.tools import mcp_tools


def _delete_then_report(prompt: LLMPrompt) -> str | ToolCall:
    """The model of ``mcp_catalog_admin``: delete the product, then say what the tool said."""
    last = prompt.messages[-1]
    if last.role == "tool":
        return f"Done: {last.content}"
    return ToolCall(id="delete_1", name="delete_product", arguments={"sku": "A1"})


class DeletingBackend(FunctionBackend):
    """Configured by alias in the test settings, so a worker process has it too."""

    def __init__(self, **options: object) -> None:
        super().__init__(_delete_then_report)


@agents.agent_endpoint(
    "mcp_catalog_admin",
    description="Deletes products through the MCP test server, once approved",
    llm="mcp-loop",
    tools=[mcp_tools("test-tools", only=["delete_product"], requires_approval=True)],
    approval=ApprovalWorkflow([ApprovalRule(name="deletes", approvers=["group:approvers"])]),
)
async def mcp_catalog_admin(intent):
    return None
