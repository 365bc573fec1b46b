"""Servers and databases of ``benchmarks/concurrency.py``: uvicorn, PostgreSQL, counting rows.

Each server runs on a free loopback port with its log under ``var/bench/``; its RSS and
CPU are read from ``/proc`` (the server and its ``--workers`` children together).
"""

from __future__ import annotations

import os
import resource
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "benchmarks"
OUT = ROOT / "var" / "bench"
HOST = "127.0.0.1"
#: File descriptors for 1,000 connections on each side, plus room for the rest.
NOFILE = 16384
TRACES = "agentic_django_executiontrace"


def raise_nofile() -> None:
    """Let this process (and, through preexec_fn, servers and wrk) hold 1,000s of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def project_env(database_url: str, delay: float, pg_pool: bool = False) -> dict[str, str]:
    path = os.pathsep.join([str(BENCH), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "DJANGO_SETTINGS_MODULE": "concbench.settings",
        "DATABASE_URL": database_url,
        "BENCH_MODEL_DELAY": str(delay),
    }
    if pg_pool:
        env["BENCH_PG_POOL"] = "1"
    return env


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"migrate failed:\n{done.stdout}{done.stderr}")


@dataclass
class Server:
    label: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        """The server and its worker processes (``--workers``)."""
        found = [self.process.pid]
        with suppress(OSError):
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            found += [int(pid) for pid in children.read_text().split()]
        return found

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            with suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            with suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks


@contextmanager
def uvicorn(
    python: str, app: str, env: dict[str, str], label: str, health: str, workers: int = 1
) -> Iterator[Server]:
    """Serve ``app`` with uvicorn's defaults (no access log) on a free loopback port."""
    port = free_port()
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"concurrency-{label}.log"
    command = [python, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=BENCH, env=env, stdout=output, stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,
        )  # fmt: skip
    server = Server(label, port, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{label} exited with {process.returncode}; see {log}")
            with suppress(OSError), urllib.request.urlopen(f"http://{HOST}:{port}{health}"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label} did not answer within 60 s; see {log}")
            time.sleep(0.2)
        if workers > 1:  # every worker up, not just the first
            while len(server.pids()) < workers + 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def postgres(enabled: bool, port: str) -> Iterator[str | None]:
    """A fresh ``agentic_concurrency`` database on a server of the benchmark's own."""
    if not enabled:
        yield None
        return
    env = {**os.environ, "AGENTIC_PG_PORT": port}
    script = str(ROOT / "scripts" / "postgres.sh")
    try:
        started = subprocess.run(
            [script, "start"], env=env, check=True, capture_output=True, text=True
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"PostgreSQL unavailable, skipping its runs: {exc}", file=sys.stderr)
        yield None
        return
    try:
        import psycopg

        server_url = started.stdout.strip()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS agentic_concurrency")
            conn.execute("CREATE DATABASE agentic_concurrency")
        yield server_url.rsplit("/", 1)[0] + "/agentic_concurrency"
    finally:
        subprocess.run([script, "stop"], env=env, check=False, capture_output=True)


def sql(database_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one read query on the benchmark's SQLite or PostgreSQL database."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30) as conn:
            return conn.execute(query.replace("%s", "?"), params).fetchall()
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def count_traces(database_url: str) -> int:
    return int(sql(database_url, f"SELECT COUNT(*) FROM {TRACES}")[0][0])
