"""The Streamable HTTP MCP endpoint as an ASGI application: :class:`MCPApplication`.

``agentic_django.asgi.get_application()`` mounts it at ``<prefix>mcp/`` when the
``mcp`` SDK is installed. Each HTTP request is authenticated first (see
:mod:`.authorization`): without valid credentials the answer is HTTP 401 with a
``WWW-Authenticate`` challenge, as the MCP authorization spec asks, and the MCP
server never sees the request. Admitted requests go to the SDK's session manager
in stateless mode: every request stands alone and is authenticated on its own,
so any process of a deployment can answer any request, and what a client may do
follows its credentials, not a session it once opened. Conversations continue
through the agents' own sessions (``session_id``), bound to the user.

The SDK's session manager needs a task group alive for as long as the server
runs; daphne has no ASGI lifespan, so it is started by the first request, in a
task of its own, once per event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.core.exceptions import DisallowedHost
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from ..registry import AgentSite, agents
from .authorization import admit
from .exposure import exposed_endpoints
from .server import SCOPE_USER, build_server


class MCPApplication:
    """ASGI application serving the MCP endpoint of one :class:`AgentSite`."""

    def __init__(self, site: AgentSite = agents) -> None:
        self.site = site
        self.server = build_server(site)
        #: Per event loop: the session manager and the event set once it runs.
        self._managers: dict[
            asyncio.AbstractEventLoop, tuple[StreamableHTTPSessionManager, asyncio.Event]
        ] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            admission = await admit(scope, exposed_endpoints(self.site))
        except DisallowedHost:
            await _send_json(send, 400, {"error": "invalid_host"})
            return
        if not admission.admitted:
            await _send_json(
                send,
                401,
                {"error": "invalid_token", "error_description": admission.detail},
                headers=[(b"www-authenticate", admission.challenge.encode("latin-1"))],
            )
            return
        manager = await self._manager()
        await manager.handle_request({**scope, SCOPE_USER: admission.user}, receive, send)

    async def _manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        if loop in self._managers:
            # Requests arriving while the first one starts it wait for it to run.
            manager, started = self._managers[loop]
            await started.wait()
            return manager
        manager = StreamableHTTPSessionManager(app=self.server, stateless=True)
        started = asyncio.Event()
        self._managers[loop] = (manager, started)

        async def serve() -> None:
            async with manager.run():
                started.set()
                await asyncio.Event().wait()  # until the loop ends and cancels it

        task = loop.create_task(serve(), name="agentic-mcp-session-manager")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await started.wait()
        return manager


async def _send_json(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
