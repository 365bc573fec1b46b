"""URL patterns of the Channels consumers, to compose with your own ASGI routing.

``prefix`` is where ``agentic_django.urls`` is included (``"agents/"`` by
default). :func:`agentic_django.asgi.get_application` puts these in front of
Django's own ASGI application.
"""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from .consumers import (
    AgentSocketConsumer,
    AgentStreamConsumer,
    ApprovalEventsConsumer,
    RunEventsConsumer,
)
from .mcp import sdk_available

_NAME = r"(?P<name>[A-Za-z0-9_][\w.-]*)"
# Any segment: an id that cannot exist gets the API's JSON 404, not the project's HTML one.
_ID = r"[^/]+"


def _root(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"^{prefix}/" if prefix else "^"


def http_urlpatterns(prefix: str = "agents/") -> list[Any]:
    """The streams: ``<name>/stream/``, ``runs/<id>/events/``, ``approvals/<id>/events/``;
    and ``mcp/``, the MCP endpoint, when the ``mcp`` SDK is installed."""
    root = _root(prefix)
    return [
        *mcp_urlpatterns(prefix),
        re_path(rf"{root}runs/(?P<run_id>{_ID})/events/$", RunEventsConsumer.as_asgi()),
        re_path(
            rf"{root}approvals/(?P<request_id>{_ID})/events/$", ApprovalEventsConsumer.as_asgi()
        ),
        re_path(rf"{root}{_NAME}/stream/$", AgentStreamConsumer.as_asgi()),
    ]


def websocket_urlpatterns(prefix: str = "agents/") -> list[Any]:
    """``<prefix><name>/ws/``."""
    return [re_path(rf"{_root(prefix)}{_NAME}/ws/$", AgentSocketConsumer.as_asgi())]


def mcp_urlpatterns(prefix: str = "agents/") -> list[Any]:
    """``<prefix>mcp/`` (and without the slash, as MCP clients are configured both ways);
    nothing when the ``mcp`` SDK is not installed."""
    if not sdk_available():
        return []
    # Imported here, not at the top: it imports the SDK, an optional dependency.
    from .mcp.asgi import MCPApplication

    return [re_path(rf"{_root(prefix)}mcp/?$", MCPApplication())]
