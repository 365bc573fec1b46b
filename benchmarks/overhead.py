"""What agentic_django adds to a bare async DRF view, measured over real HTTP.

Serves the example project with daphne on loopback twice (SQLite and PostgreSQL), then
drives three routes side by side in one run with a keep-alive load generator:

* ``bare``: ``example_project.bench_views.BareView``, an adrf view answering the same JSON;
* ``agent-sqlite``: the ``bench`` agent endpoint (trivial handler; the session, trace and
  turn are persisted) on SQLite;
* ``agent-postgres``: the same endpoint on PostgreSQL (``scripts/postgres.sh``).

Both views use no authentication and ``AllowAny``, so the difference is the framework.
Two more SQLite servers measure what observability costs: ``agent-plain`` runs with the
``prometheus`` and ``otel`` extras blocked, ``agent-observed`` with Prometheus metrics and
an OpenTelemetry SDK provider recording every span (``benchmarks/observability/``).
Prints requests/s, p50 and p99 with ratios to the bare view and writes
``benchmarks/results/overhead.json``. Targets: ``agent-sqlite`` reaches 60% of ``bare``;
``agent-observed`` loses at most 10% of ``agent-plain``'s throughput.
Usage: ``python benchmarks/overhead.py [--concurrency 16] [--duration 5] [--no-postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"
#: A PostgreSQL of the benchmark's own, so stopping it never disturbs a test run's server.
PG_PORT = "54339"
PG_DATABASE = "agentic_bench"
TARGET_RATIO = 0.60
#: Tracing and metrics may cost at most this share of the plain agent's throughput.
OBSERVABILITY_MAX_OVERHEAD = 0.10
READ_TIMEOUT = 10.0
DAPHNE = (sys.executable, "-m", "daphne")

BODY = json.dumps({"intent": "ping the benchmark endpoint"}).encode()


@dataclass
class Route:
    name: str
    port: int
    path: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def request(self) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        )
        return head.encode() + BODY


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def project_env(database_url: str) -> dict[str, str]:
    """Production-like settings: no DEBUG (no query log), no static handler, quiet logs."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "SERVE_STATIC": "False",
        "ALLOWED_HOSTS": HOST,
        "AGENTIC_LOG_LEVEL": "WARNING",
        "SHOP_LOG_LEVEL": "WARNING",
    }


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def prepare_database(database_url: str) -> dict[str, str]:
    env = project_env(database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_shop", "--reset")
    return env


@contextmanager
def daphne(
    env: dict[str, str], label: str, app: str = "example_project.asgi:application"
) -> Iterator[int]:
    """Run daphne serving ``app`` on a free loopback port until the block ends; yields the port."""
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f"overhead-daphne-{label}.log", "w") as log:
        process = subprocess.Popen(
            [*DAPHNE, "-v", "0", "-b", HOST, "-p", str(port), app],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(port, process)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}; see {RESULTS}")
        with suppress(OSError), urllib.request.urlopen(f"http://{HOST}:{port}/agents/health/"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"daphne on port {port} did not answer within {timeout:.0f}s")


@contextmanager
def postgres(enabled: bool) -> Iterator[str | None]:
    """A fresh ``agentic_bench`` database on the benchmark's own server, or ``None``."""
    if not enabled:
        yield None
        return
    env = {**os.environ, "AGENTIC_PG_PORT": PG_PORT}
    script = str(ROOT / "scripts" / "postgres.sh")
    try:
        started = subprocess.run(
            [script, "start"], env=env, check=True, capture_output=True, text=True
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"PostgreSQL unavailable, skipping its route: {exc}", file=sys.stderr)
        yield None
        return
    try:
        import psycopg

        server_url = started.stdout.strip()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        yield server_url.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False, capture_output=True)


def count_traces(env: dict[str, str]) -> int:
    code = (
        "from agentic_django.models import ExecutionTrace as T;"
        "print(T.objects.filter(endpoint_name='bench').count())"
    )
    return int(manage(env, "shell", "--no-imports", "-c", code).strip())


# --- load generator -------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response framed by Content-Length; return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next(
        (
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        ),
        None,
    )
    if length is None:
        raise RuntimeError(f"response without Content-Length: {lines[0]}")
    await reader.readexactly(length)
    return status


async def connection_loop(route: Route, until: float, record: bool) -> None:
    """One keep-alive connection sending requests back to back until ``until``."""
    reader, writer = await asyncio.open_connection(HOST, route.port)
    payload = route.request()
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(payload)
            status = await asyncio.wait_for(read_response(reader), READ_TIMEOUT)
            if record:
                route.latencies.append(time.perf_counter() - started)
                route.errors += status != 200
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()


async def drive(route: Route, concurrency: int, seconds: float, record: bool = True) -> None:
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(connection_loop(route, until, record) for _ in range(concurrency)))
    if record:
        route.elapsed += time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def summarize(route: Route, baseline: dict[str, Any] | None) -> dict[str, Any]:
    count = len(route.latencies)
    row: dict[str, Any] = {
        "route": route.name,
        "path": route.path,
        "requests": count,
        "errors": route.errors,
        "seconds": round(route.elapsed, 3),
        "requests_per_second": round(count / route.elapsed, 1) if route.elapsed else 0.0,
        "p50_ms": round(percentile(route.latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(route.latencies, 0.99) * 1000, 2),
    }
    if baseline is not None and baseline["requests_per_second"]:
        row["throughput_ratio"] = round(
            row["requests_per_second"] / baseline["requests_per_second"], 3
        )
        row["p50_ratio"] = round(row["p50_ms"] / baseline["p50_ms"], 2)
        row["p99_ratio"] = round(row["p99_ms"] / baseline["p99_ms"], 2)
    return row


async def measure(routes: list[Route], args: argparse.Namespace) -> None:
    """Warm every route, then measure them in interleaved rounds so drift hits all alike."""
    for route in routes:
        await drive(route, args.concurrency, args.warmup, record=False)
    for _ in range(args.rounds):
        for route in routes:
            await drive(route, args.concurrency, args.duration / args.rounds)


# --- report ---------------------------------------------------------------------------


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'route':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
    header += f"{'req/s vs bare':>15}{'p50 vs bare':>13}{'p99 vs bare':>13}{'errors':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['route']:<16}{row['requests_per_second']:>10.1f}{row['p50_ms']:>10.2f}"
            f"{row['p99_ms']:>10.2f}{row.get('throughput_ratio', 1.0):>15.2f}"
            f"{row.get('p50_ratio', 1.0):>13.2f}{row.get('p99_ratio', 1.0):>13.2f}"
            f"{row['errors']:>8}"
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="agentic-bench-") as tmp,
        postgres(not args.no_postgres) as pg_url,
    ):
        sqlite_env = prepare_database(f"sqlite:///{tmp}/bench.sqlite3")
        plain_env = prepare_database(f"sqlite:///{tmp}/plain.sqlite3")
        observed_env = prepare_database(f"sqlite:///{tmp}/observed.sqlite3")
        pg_env = prepare_database(pg_url) if pg_url else None
        with (
            daphne(sqlite_env, "sqlite") as sqlite_port,
            daphne(plain_env, "plain", "benchmarks.observability.plain:application") as plain,
            daphne(
                observed_env, "observed", "benchmarks.observability.observed:application"
            ) as observed,
        ):
            routes = [
                Route("bare", sqlite_port, "/bench/bare/"),
                Route("agent-sqlite", sqlite_port, "/agents/bench/"),
                Route("agent-plain", plain, "/agents/bench/"),
                Route("agent-observed", observed, "/agents/bench/"),
            ]
            if pg_env is None:
                asyncio.run(measure(routes, args))
            else:
                with daphne(pg_env, "postgres") as pg_port:
                    routes.append(Route("agent-postgres", pg_port, "/agents/bench/"))
                    asyncio.run(measure(routes, args))
        traces = {"agent-sqlite": count_traces(sqlite_env)}
        if pg_env is not None:
            traces["agent-postgres"] = count_traces(pg_env)
    baseline = summarize(routes[0], None)
    rows = [baseline, *(summarize(route, baseline) for route in routes[1:])]
    for row in rows:
        if row["route"] in traces:
            row["traces_recorded"] = traces[row["route"]]
    sqlite_ratio = rows[1].get("throughput_ratio", 0.0)
    by_name = {row["route"]: row for row in rows}
    plain_rps = by_name["agent-plain"]["requests_per_second"]
    observed_rps = by_name["agent-observed"]["requests_per_second"]
    overhead = round(1 - observed_rps / plain_rps, 3) if plain_rps else 1.0
    return {
        "benchmark": "overhead",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": vars(args),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "routes": rows,
        "target": {
            "agent_sqlite_min_throughput_ratio": TARGET_RATIO,
            "met": sqlite_ratio >= TARGET_RATIO,
        },
        "observability": {
            "throughput_overhead": overhead,
            "p50_plain_ms": by_name["agent-plain"]["p50_ms"],
            "p50_observed_ms": by_name["agent-observed"]["p50_ms"],
            "max_overhead": OBSERVABILITY_MAX_OVERHEAD,
            "met": overhead <= OBSERVABILITY_MAX_OVERHEAD,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--duration", type=float, default=6.0, help="measured seconds per route")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per route")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per route")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL route")
    args = parser.parse_args()
    report = run(args)
    print(
        f"\nagentic_django overhead: {args.concurrency} connections, "
        f"{args.duration:g}s per route in {args.rounds} interleaved rounds\n"
    )
    print_table(report["routes"])
    target = report["target"]
    verdict = "met" if target["met"] else "NOT met"
    print(f"\nTarget agent-sqlite >= {TARGET_RATIO:.0%} of bare throughput: {verdict}")
    observed = report["observability"]
    print(
        f"Tracing and metrics cost {observed['throughput_overhead']:.1%} of agent-plain's "
        f"throughput (at most {OBSERVABILITY_MAX_OVERHEAD:.0%}): "
        + ("met" if observed["met"] else "NOT met")
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "overhead.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
