"""What a call through MCP adds to the same call over the HTTP API, measured over real HTTP.

Serves the example shop with daphne on loopback (SQLite), then asks the ``orders``
agent the same question the same number of times, one call at a time, two ways:

* ``http``: ``POST /agents/orders/`` with a DRF token, on one keep-alive connection;
* ``mcp``: ``tools/call`` of ``orders`` through the SDK's client (Streamable HTTP, one
  client kept open), so each call also pays the JSON-RPC framing, the MCP server's
  dispatch and the per-call DRF checks of the MCP endpoint.

Both run the same pipeline (one trace per call). Prints p50 / p99 and the difference,
then a transcript of what an MCP client sends and receives for ``tools/list`` and
``tools/call``; writes ``benchmarks/results/mcp.json``.
Usage: ``python benchmarks/mcp_latency.py [--calls 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"
QUESTION = "how many orders shipped?"

USERS = """
import json
import django
django.setup()
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
ada = get_user_model().objects.create_user("ada", "ada.lovelace@example.com", "pw")
print(json.dumps(Token.objects.create(user=ada).key))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def project_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "SERVE_STATIC": "False",
        "ALLOWED_HOSTS": HOST,
        "AGENTIC_LOG_LEVEL": "WARNING",
        "SHOP_LOG_LEVEL": "WARNING",
        "AGENTIC_TASK_RUNNER": "inline",
    }


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


@contextmanager
def daphne(env: dict[str, str]) -> Iterator[str]:
    """The shop on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "mcp-daphne.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-v", "0", "-b", HOST, "-p", str(port),
             "example_project.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not start; see {RESULTS / 'mcp-daphne.log'}")
                with (
                    suppress(OSError),
                    urllib.request.urlopen(f"http://{HOST}:{port}/agents/health/"),
                ):
                    break
                time.sleep(0.2)
            yield f"http://{HOST}:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


async def over_http(base: str, token: str, calls: int) -> list[float]:
    samples = []
    headers = {"Authorization": f"Token {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        for index in range(calls + 5):
            started = time.perf_counter()
            response = await http.post("/agents/orders/", json={"intent": QUESTION})
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            if index >= 5:  # the first calls warm the process up
                samples.append(elapsed)
    return samples


async def over_mcp(base: str, token: str, calls: int) -> list[float]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    samples = []
    async with (
        create_mcp_http_client(headers={"Authorization": f"Token {token}"}) as http,
        Client(streamable_http_client(f"{base}/agents/mcp/", http_client=http)) as client,
    ):
        await client.list_tools()
        for index in range(calls + 5):
            started = time.perf_counter()
            result = await client.call_tool("orders", {"intent": QUESTION})
            elapsed = (time.perf_counter() - started) * 1000
            assert not result.is_error, result.content
            if index >= 5:
                samples.append(elapsed)
    return samples


def transcript(base: str, token: str) -> list[dict[str, Any]]:
    """The raw exchange of ``tools/list`` and ``tools/call`` (what any MCP client sees)."""
    headers = {
        "Authorization": f"Token {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    exchange = []
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "orders", "arguments": {"intent": QUESTION}},
        },
    ]
    with httpx.Client(timeout=30) as http:
        for message in messages:
            response = http.post(f"{base}/agents/mcp/", json=message, headers=headers)
            exchange.append(
                {"request": message, "status": response.status_code, "response": _rpc(response)}
            )
        anonymous = http.post(
            f"{base}/agents/mcp/", json=messages[0], headers={"Accept": headers["Accept"]}
        )
        exchange.append(
            {
                "request": "tools/list without credentials",
                "status": anonymous.status_code,
                "www-authenticate": anonymous.headers.get("www-authenticate"),
                "response": anonymous.json(),
            }
        )
    return exchange


def _rpc(response: httpx.Response) -> Any:
    """The JSON-RPC message of a response, whether sent as JSON or as one SSE event."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return [json.loads(item) for item in data if item]
    return response.json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        env = project_env(f"sqlite:///{workdir}/mcp.sqlite3")
        run(env, "manage.py", "migrate", "--noinput")
        run(env, "manage.py", "seed_shop", "--reset")
        token = json.loads(run(env, "-c", USERS))
        with daphne(env) as base:
            exchange = transcript(base, token)
            # Interleaved rounds, so a slow moment of the machine hits both alike.
            http: list[float] = []
            mcp: list[float] = []
            for _ in range(4):
                http += asyncio.run(over_http(base, token, args.calls // 4))
                mcp += asyncio.run(over_mcp(base, token, args.calls // 4))
    rows = {}
    for label, samples in (("http", http), ("mcp", mcp)):
        rows[label] = {
            "calls": len(samples),
            "p50_ms": round(percentile(samples, 0.5), 2),
            "p99_ms": round(percentile(samples, 0.99), 2),
        }
    added = {
        "p50_ms": round(rows["mcp"]["p50_ms"] - rows["http"]["p50_ms"], 2),
        "p99_ms": round(rows["mcp"]["p99_ms"] - rows["http"]["p99_ms"], 2),
    }
    print(f"{'route':<6} {'calls':>6} {'p50 ms':>9} {'p99 ms':>9}")
    for label, row in rows.items():
        print(f"{label:<6} {row['calls']:>6} {row['p50_ms']:>9.2f} {row['p99_ms']:>9.2f}")
    print(f"MCP adds {added['p50_ms']:.2f} ms at p50, {added['p99_ms']:.2f} ms at p99")
    print("\nTranscript (tools/list, tools/call, then tools/list without credentials):")
    print(json.dumps(exchange, indent=2)[:6000])
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"question": QUESTION, "routes": rows, "added": added, "transcript": exchange}
    (RESULTS / "mcp.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
