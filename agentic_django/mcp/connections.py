"""Connections to the MCP servers of ``AGENTIC_DJANGO["MCP_SERVERS"]``, pooled per process.

One connection per server alias and event loop (an asyncio connection cannot
cross loops: daphne has one, a Celery task running ``async_to_sync`` gets its
own), opened on first use and kept. A connection that died — the server's
process exited, its HTTP endpoint went away, a call timed out and left it in an
unknown state — is dropped and the next call opens a new one. Every failure to
reach a server surfaces as :class:`MCPServerUnavailable`, which the tools turn
into an error the model reads.

The SDK's client keeps task groups that must be left by the task that entered
them, so each connection lives in a task of its own and callers share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from .config import ServerConfig

logger = logging.getLogger("agentic_django.mcp")


class MCPServerUnavailable(Exception):
    """An MCP server could not be reached, or stopped answering."""


def build_client(config: ServerConfig) -> Client:
    """The SDK client for a configured server (not connected yet)."""
    if config.command:
        params = StdioServerParameters(
            command=config.command[0], args=list(config.command[1:]), env=config.env, cwd=config.cwd
        )
        return Client(params, read_timeout_seconds=config.timeout_seconds)
    http = create_mcp_http_client(headers=config.headers)
    return Client(
        streamable_http_client(config.url, http_client=http),
        read_timeout_seconds=config.timeout_seconds,
    )


class Connection:
    """One live client session, owned by its own task until closed or dead."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.client: Client | None = None
        self.dead = False
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> Connection:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._own(ready), name=f"mcp-{self.config.alias}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.config.connect_timeout_seconds)
        except TimeoutError:
            await self.close()
            raise MCPServerUnavailable(
                f"MCP server {self.config.alias!r} did not answer within "
                f"{self.config.connect_timeout_seconds:g} seconds."
            ) from None
        except Exception as exc:
            await self.close()
            raise MCPServerUnavailable(
                f"MCP server {self.config.alias!r} is unavailable: {_reason(exc)}"
            ) from exc
        return self

    async def _own(self, ready: asyncio.Future[None]) -> None:
        try:
            async with build_client(self.config) as client:
                self.client = client
                ready.set_result(None)
                await self._closing.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            elif not self._closing.is_set():
                logger.warning("MCP server %r connection ended: %r", self.config.alias, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.client = None
            self.dead = True

    async def close(self) -> None:
        """End the session (the SDK stops a stdio server's process); cancel a stuck one."""
        connected = self.client is not None
        self.dead = True
        self._closing.set()
        task = self._task
        if task is None or task.done():
            return
        if connected:
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 5)
        if not task.done():
            # Still connecting (a server that never answers the handshake), or stuck.
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 5)


class ConnectionPool:
    """The live connections of this process, by event loop and alias."""

    def __init__(self) -> None:
        self._connections: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, Connection]
        ] = weakref.WeakKeyDictionary()
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    async def get(self, alias: str) -> Connection:
        """The live connection to ``alias``, opened (or reopened) when needed."""
        loop = asyncio.get_running_loop()
        connections = self._connections.setdefault(loop, {})
        lock = self._locks.setdefault(loop, {}).setdefault(alias, asyncio.Lock())
        async with lock:
            current = connections.get(alias)
            if current is not None and not current.dead:
                return current
            config = ServerConfig.from_settings(alias)
            connection = await Connection(config).open()
            connections[alias] = connection
            return connection

    async def discard(self, connection: Connection) -> None:
        """Close ``connection`` and forget it, so the next call reconnects."""
        loop = asyncio.get_running_loop()
        connections = self._connections.get(loop, {})
        if connections.get(connection.config.alias) is connection:
            del connections[connection.config.alias]
        await connection.close()

    async def close_all(self) -> None:
        """Close this loop's connections (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        for connection in list(self._connections.pop(loop, {}).values()):
            await connection.close()


def _reason(exc: BaseException) -> str:
    """The innermost message of an exception group or chain, for the model to read."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


connections = ConnectionPool()
