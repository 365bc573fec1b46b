"""CPU per request of an agent endpoint against a bare adrf view, in one process.

``python -m concbench.inprocess --concurrency 50 --batches 20`` (with
``DJANGO_SETTINGS_MODULE=concbench.settings``, ``DATABASE_URL`` of a migrated database
and ``BENCH_MODEL_DELAY=0``) calls the ASGI application directly, ``--concurrency``
requests at a time, alternating bare and agent batches so that drift on a shared
machine hits both alike. CPU is the whole process's (``time.process_time``: every
thread, so the database threads count too). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import django

BODY = json.dumps({"intent": "show the status of the benchmark"}).encode()
ROUTES = {"bare": "/bare/", "agent": "/agents/slow/"}


async def call(application: Any, path: str) -> int:
    """One POST through the ASGI application; returns the response status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    finished = asyncio.Event()
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        # Django listens for a disconnect while the view runs: the client stays
        # until the response is complete, as a real one would.
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await application(scope, receive, send)
    finished.set()
    return status


async def batch(application: Any, path: str, concurrency: int) -> tuple[float, float, list[int]]:
    """``concurrency`` requests at once; returns (CPU seconds, wall seconds, statuses)."""
    cpu, wall = time.process_time(), time.perf_counter()
    statuses = await asyncio.gather(*(call(application, path) for _ in range(concurrency)))
    return time.process_time() - cpu, time.perf_counter() - wall, list(statuses)


async def measure(application: Any, args: argparse.Namespace) -> dict[str, Any]:
    totals = {name: {"cpu": 0.0, "wall": 0.0, "requests": 0, "errors": 0} for name in ROUTES}
    for _ in range(args.warmup):
        for path in ROUTES.values():
            await batch(application, path, args.concurrency)
    for _ in range(args.batches):
        for name, path in ROUTES.items():
            cpu, wall, statuses = await batch(application, path, args.concurrency)
            row = totals[name]
            row["cpu"] += cpu
            row["wall"] += wall
            row["requests"] += len(statuses)
            row["errors"] += sum(status != 200 for status in statuses)
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    django.setup()
    from asgiref.sync import sync_to_async
    from django.core.asgi import get_asgi_application

    from agentic_django.models import ExecutionTrace, LLMCall

    def counts() -> tuple[int, int]:
        return ExecutionTrace.objects.count(), LLMCall.objects.count()

    # Rows written by this run only: the database is kept between repetitions.
    traces_before, calls_before = asyncio.run(sync_to_async(counts)())
    application = get_asgi_application()
    totals = asyncio.run(measure(application, args))
    traces, calls = asyncio.run(sync_to_async(counts)())
    traces, calls = traces - traces_before, calls - calls_before
    agent_requests = (args.warmup + args.batches) * args.concurrency
    result = {
        "concurrency": args.concurrency,
        "batches": args.batches,
        "routes": {
            name: {
                "requests": row["requests"],
                "errors": row["errors"],
                "cpu_ms_per_request": round(row["cpu"] * 1000 / row["requests"], 3),
                "wall_ms_per_batch": round(row["wall"] * 1000 / args.batches, 2),
            }
            for name, row in totals.items()
        },
        "agent_requests_total": agent_requests,
        "traces": traces,
        "llm_calls": calls,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
