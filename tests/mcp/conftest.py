"""A real HTTP server for the MCP tests: uvicorn on loopback, serving the project's ASGI app.

The server runs in a thread of the test process, so it shares the test database
(committed data: tests use ``transactional_db``); clients are the SDK's own.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

pytest.importorskip("mcp")

import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port, in a thread."""

    def __init__(self, app: Any, *, lifespan: str = "off") -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(
            app, host=HOST, port=self.port, log_level="warning", lifespan=lifespan
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        # The server's ORM work ran in asgiref's shared sync thread: close what it opened
        # there, or PostgreSQL refuses to drop the test database at the end of the run.
        closer = threading.Thread(
            target=asyncio.run, args=(sync_to_async(connections.close_all)(),)
        )
        closer.start()
        closer.join(timeout=10)


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[LiveServer]:
    """The project's ASGI application (``agentic_django.asgi``) on real HTTP."""
    from agentic_django.asgi import get_application

    server = LiveServer(get_application()).start()
    yield server
    server.stop()


@asynccontextmanager
async def mcp_client(url: str, token: str | None = None) -> AsyncIterator[Client]:
    """The SDK's client on the Streamable HTTP endpoint, with a DRF token when given."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client
