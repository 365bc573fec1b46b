"""The Model Context Protocol, both ways, through the official ``mcp`` SDK (the ``mcp`` extra).

Serving: :mod:`agentic_django.mcp.asgi` answers MCP clients at ``<prefix>mcp/`` and
offers them the agent endpoints they may call as tools (:mod:`.exposure`,
:mod:`.server`). Using: :mod:`agentic_django.mcp.tools` turns the tools of MCP
servers configured in ``AGENTIC_DJANGO["MCP_SERVERS"]`` into tools of the agentic
loop, pooled per process by :mod:`agentic_django.mcp.connections`.

Importing this package does not import the SDK; only the modules above do.
"""

from __future__ import annotations

import importlib.util


def sdk_available() -> bool:
    """Whether the ``mcp`` SDK is installed (``pip install "django-agentic-endpoints[mcp]"``)."""
    return importlib.util.find_spec("mcp") is not None
