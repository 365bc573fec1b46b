"""Streaming through Channels, measured over real HTTP against daphne on loopback.

Serves ``benchmarks/streambench`` (benchmark-only streaming endpoints, token
authentication, SQLite in a temporary directory) with daphne, once with the Redis
channel layer (``channels_redis`` on a Redis of the benchmark's own, started with
``scripts/redis.sh``) and once with the in-memory layer, and measures:

1. time to first event: ``POST /agents/stream_first/stream/`` (one partial, then
   done), from sending the request to the first complete SSE frame (``id: 0``;
   keepalive comments before it do not count), p50 / p95 over ``--requests`` runs;
2. throughput: ``stream_flood`` runs emitting 10,000 partials back to back (after a
   small warm-up run), events/s through SSE from the response's first byte to the
   final event, the median of ``--floods``; every event must arrive once, in order;
3. replay: ``GET /agents/runs/<run_id>/events/`` of the last finished flood;
4. 1,000 idle SSE streams following one live run, on a fresh daphne: its RSS
   (``VmRSS``) before and after, per stream; its CPU while they idle (longer than
   channels_redis's 5 s blocking receive); then the run is cancelled (its client
   leaves) and every stream must get the ``error`` event: how long that takes.

Each daphne's log goes to ``benchmarks/results/streaming-daphne-<layer>-*.log``; the
tracebacks in it are counted and reported. Prints the layers side by side with the
targets and writes ``benchmarks/results/streaming.json``. Targets (checked on Redis):
first event p50 < 20 ms, >= 5,000 events/s, replay < 1 s, < 100 KB per idle stream.
Exits 1 if an idle stream lost its terminal event.

Usage: ``python benchmarks/streaming.py [--requests 50] [--events 10000] [--floods 3]
[--streams 1000] [--idle-seconds 6] [--layers redis,memory|pubsub]
[--redis-socket-timeout 10|none|default] [--redis-max-connections N|default] [--profile]``.
``--profile`` runs the first daphne under cProfile (its event loop thread only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pstats
import resource
import signal
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
SETTINGS = "streambench.settings"
APPLICATION = "streambench.asgi:application"
#: A Redis of the benchmark's own (approval.py uses 63799), so stopping it disturbs no one.
REDIS_ENV = {**os.environ, "AGENTIC_REDIS_PORT": "63798"}
#: File descriptors for 1,000 streams on each side, plus room for the rest.
NOFILE = 8192
#: Connections being opened at once (daphne listens with Twisted's backlog of 50).
OPEN_AT_ONCE = 50
READ_SIZE = 256 * 1024

TARGET_FIRST_EVENT_P50_MS = 20.0
TARGET_EVENTS_PER_SECOND = 5_000.0
TARGET_REPLAY_SECONDS = 1.0
TARGET_KB_PER_STREAM = 100.0

TOKEN_SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_user("streamer", "streamer@example.com", "pw")
print(Token.objects.create(user=user).key)
"""


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def raise_nofile() -> None:
    """Raise this process's soft RLIMIT_NOFILE (also run in daphne through preexec_fn)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def project_env(
    database: Path, layer: str, redis_url: str | None, args: argparse.Namespace
) -> dict[str, str]:
    pythonpath = os.pathsep.join(
        [str(ROOT / "benchmarks"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DATABASE_URL": f"sqlite:///{database}",
        "STREAM_BENCH_LAYER": layer,
        "STREAM_KEEPALIVE_SECONDS": str(args.keepalive),
        "STREAM_BENCH_REDIS_SOCKET_TIMEOUT": args.redis_socket_timeout,
        "STREAM_BENCH_REDIS_MAX_CONNECTIONS": args.redis_max_connections,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def prepare_database(env: dict[str, str]) -> str:
    """Migrate the temporary database and create the streaming user; returns its token."""
    for args in (["-m", "django", "migrate", "--noinput"], ["-c", TOKEN_SCRIPT]):
        done = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:3])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    profile: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def daphne(env: dict[str, str], label: str, profile: bool = False) -> Iterator[Server]:
    """Run daphne on a free loopback port until the block ends (its log under results/)."""
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"streaming-daphne-{label}.log"
    stats = RESULTS / f"streaming-daphne-{label}.prof" if profile else None
    command = [sys.executable]
    if stats is not None:
        command += ["-m", "cProfile", "-o", str(stats)]
    command += ["-m", "daphne", "-v", "0", "-b", HOST, "-p", str(port), APPLICATION]
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,
        )
    server = Server(port, process, log, stats)
    try:
        wait_ready(server)
        yield server
    finally:
        # SIGINT lets Twisted stop its reactor, so cProfile gets to write its stats.
        process.send_signal(signal.SIGINT if profile else signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"daphne exited with {server.process.returncode}:\n{tail(server.log)}"
            )
        with (
            suppress(OSError),
            urllib.request.urlopen(f"http://{HOST}:{server.port}/agents/health/"),
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer within {timeout:.0f}s:\n{tail(server.log)}")


def server_errors(path: Path) -> dict[str, int]:
    """What daphne logged as failures: the last line of each traceback, counted."""
    counts: dict[str, int] = {}
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    for index, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last):"):
            continue
        end = index + 1
        while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
            end += 1
        if end < len(lines):
            counts[lines[end][:200]] = counts.get(lines[end][:200], 0) + 1
    return counts


def tail(path: Path, lines: int = 30) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextmanager
def redis(enabled: bool) -> Iterator[str | None]:
    if not enabled:
        yield None
        return
    script = str(ROOT / "scripts" / "redis.sh")
    try:
        started = subprocess.run(
            [script, "start"], env=REDIS_ENV, check=True, capture_output=True, text=True
        )
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=REDIS_ENV, check=False, capture_output=True)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- HTTP/1.1 + SSE client ------------------------------------------------------------


@dataclass
class SSEEvent:
    kind: str
    seq: int
    data: bytes


@dataclass
class Response:
    """An HTTP/1.1 response read incrementally: head, chunked body, SSE frames."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    first_byte: float = 0.0
    complete: bool = False
    _raw: bytearray = field(default_factory=bytearray)
    _head_done: bool = False
    _chunked: bool = False
    _body: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Take bytes off the socket; return the SSE events completed by them."""
        if not self.first_byte:
            self.first_byte = time.perf_counter()
        self._raw += data
        if not self._head_done:
            end = self._raw.find(b"\r\n\r\n")
            if end < 0:
                return []
            lines = self._raw[:end].decode("latin-1").split("\r\n")
            del self._raw[: end + 4]
            self.status = int(lines[0].split(" ", 2)[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
            self._head_done = True
        if self._chunked:
            self._dechunk()
        else:
            self._body += self._raw
            self._raw.clear()
        return self._frames()

    def _dechunk(self) -> None:
        raw, pos = self._raw, 0
        while not self.complete:
            line_end = raw.find(b"\r\n", pos)
            if line_end < 0:
                break
            size = int(raw[pos:line_end].split(b";", 1)[0], 16)
            if size == 0:
                self.complete = True
                pos = line_end + 2
                break
            start, end = line_end + 2, line_end + 2 + size
            if len(raw) < end + 2:
                break
            self._body += raw[start:end]
            pos = end + 2
        del raw[:pos]

    def _frames(self) -> list[SSEEvent]:
        events = []
        body, pos = self._body, 0
        while (end := body.find(b"\n\n", pos)) >= 0:
            frame, pos = bytes(body[pos:end]), end + 2
            if frame.startswith(b":"):
                continue  # a keepalive comment
            kind, seq, data = "", -1, b""
            for line in frame.split(b"\n"):
                if line.startswith(b"event: "):
                    kind = line[7:].decode()
                elif line.startswith(b"id: "):
                    seq = int(line[4:])
                elif line.startswith(b"data: "):
                    data = line[6:]
            events.append(SSEEvent(kind, seq, data))
        del body[:pos]
        return events

    @property
    def body(self) -> bytes:
        return bytes(self._body)


def request_bytes(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Token {token}\r\n"
        "Accept: text/event-stream\r\n"
    )
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


async def stream(
    port: int, request: bytes, timeout: float = 60.0
) -> tuple[Response, list[SSEEvent], float, float]:
    """Send ``request``; read SSE events to the end of the response.

    Returns the response, its events, when the request was sent and when the first
    frame arrived (``perf_counter``).
    """
    reader, writer = await asyncio.open_connection(HOST, port)
    response, events, first_event = Response(), [], 0.0
    try:
        sent = time.perf_counter()
        writer.write(request)
        async with asyncio.timeout(timeout):
            while not response.complete:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                fresh = response.feed(data)
                if fresh and not first_event:
                    first_event = time.perf_counter()
                events += fresh
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.body[:300]!r}")
    return response, events, sent, first_event


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


# --- measurements ---------------------------------------------------------------------


async def first_event(port: int, token: str, requests: int, warmup: int = 5) -> dict[str, Any]:
    """Sequential runs of ``stream_first``: request sent → ``id: 0`` frame, and → final."""
    body = request_bytes("POST", "/agents/stream_first/stream/", token, {"intent": "go"})
    firsts: list[float] = []
    totals: list[float] = []
    for index in range(warmup + requests):
        _, events, sent, first = await stream(port, body)
        kinds = [event.kind for event in events]
        if kinds != ["partial_result", "final"] or events[0].seq != 0:
            raise RuntimeError(f"unexpected stream_first events: {kinds}")
        if index >= warmup:
            firsts.append((first - sent) * 1000)
            totals.append((time.perf_counter() - sent) * 1000)
    return {
        "requests": requests,
        "p50_ms": round(percentile(firsts, 0.50), 2),
        "p95_ms": round(percentile(firsts, 0.95), 2),
        "max_ms": round(max(firsts), 2),
        "to_final_p50_ms": round(percentile(totals, 0.50), 2),
    }


def check_flood(events: list[SSEEvent], count: int) -> None:
    """Partials 0..count-1 carrying their own index, once and in order, then ``final``."""
    if len(events) != count + 1:
        raise RuntimeError(f"expected {count + 1} events, got {len(events)}")
    for index, event in enumerate(events[:count]):
        if event.kind != "partial_result" or event.seq != index:
            raise RuntimeError(f"event {index} is {event.kind} #{event.seq}")
        if json.loads(event.data)["text"] != str(index):
            raise RuntimeError(f"event {index} carries {event.data[:80]!r}")
    last = events[-1]
    if last.kind != "final" or last.seq != count:
        raise RuntimeError(f"last event is {last.kind} #{last.seq}")


async def flood(port: int, token: str, count: int) -> tuple[dict[str, Any], str]:
    """One run of ``count`` partials; returns its numbers and its run id."""
    body = request_bytes(
        "POST", "/agents/stream_flood/stream/", token, {"intent": f"flood {count}"}
    )
    response, events, sent, _ = await stream(port, body, timeout=300)
    done = time.perf_counter()
    check_flood(events, count)
    seconds = done - response.first_byte
    return {
        "seconds": round(seconds, 3),
        "events_per_second": round((count + 1) / seconds, 1),
        "request_to_final_seconds": round(done - sent, 3),
    }, response.headers["x-agent-run-id"]


async def throughput(port: int, token: str, count: int, runs: int) -> tuple[dict[str, Any], str]:
    """A small warm-up flood, then ``runs`` floods of ``count``: the median of them.

    Returns the numbers and the last run's id (for the replay).
    """
    await flood(port, token, min(count, 1000))
    results = []
    for _ in range(runs):
        result, run_id = await flood(port, token, count)
        results.append(result)
    rates = [result["events_per_second"] for result in results]
    median = sorted(results, key=lambda result: result["events_per_second"])[len(results) // 2]
    return {
        "events": count + 1,
        "runs": runs,
        **median,
        "events_per_second_min": min(rates),
        "events_per_second_max": max(rates),
        "in_order_exactly_once": True,
    }, run_id


async def replay(port: int, token: str, run_id: str, count: int) -> dict[str, Any]:
    body = request_bytes("GET", f"/agents/runs/{run_id}/events/", token)
    timings = []
    for _ in range(3):
        _, events, sent, first = await stream(port, body, timeout=120)
        timings.append((time.perf_counter() - sent, first - sent))
        check_flood(events, count)
    total, first = min(timings)
    return {
        "events": count + 1,
        "seconds": round(total, 3),
        "first_event_ms": round(first * 1000, 2),
        "events_per_second": round((count + 1) / total, 1),
        "runs": len(timings),
    }


class Follower:
    """One idle SSE stream on a raw socket: its first frame, then how and when it ends."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port = port
        self.request = request
        self.ready = asyncio.get_running_loop().create_future()
        self.response = Response()
        self.ended_at = 0.0
        self.terminal = ""

    async def run(self, gate: asyncio.Semaphore) -> None:
        writer = None
        response = self.response
        try:
            async with gate:
                reader, writer = await asyncio.open_connection(HOST, self.port)
                writer.write(self.request)
                while True:
                    data = await reader.read(4096)
                    if not data:
                        raise RuntimeError(f"stream closed before its first event: {response}")
                    if response.feed(data):
                        break
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
            self.ready.set_result(None)
            while not response.complete and not self.terminal:
                data = await reader.read(4096)
                if not data:
                    break
                for event in response.feed(data):
                    if event.kind in ("final", "error"):
                        self.terminal = event.kind
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            raise
        finally:
            self.ended_at = time.perf_counter()
            if writer is not None:
                writer.close()
                with suppress(OSError):
                    await writer.wait_closed()


async def idle_streams(
    server: Server, token: str, streams: int, idle_seconds: float
) -> dict[str, Any]:
    """``streams`` followers of one live run: RSS per stream, idle CPU, terminal fan-out.

    The run belongs to a ``stream_hold`` request (``on_disconnect="cancel"``) whose
    client is the "owner" here: closing it cancels the run, whose ``error`` event
    then has to reach every follower.
    """
    port = server.port
    hold = request_bytes("POST", "/agents/stream_hold/stream/", token, {"intent": "hold 600"})
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    owner = Follower(port, hold)
    owner_task = asyncio.create_task(owner.run(gate))
    tasks: list[asyncio.Task[None]] = []
    try:
        await owner.ready
        follow = request_bytes(
            "GET", f"/agents/runs/{owner.response.headers['x-agent-run-id']}/events/", token
        )
        # Warm up the code paths of a follower, then let the process settle.
        warm = [Follower(port, follow) for _ in range(20)]
        tasks += [asyncio.create_task(follower.run(gate)) for follower in warm]
        await asyncio.gather(*(follower.ready for follower in warm))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        await asyncio.sleep(1.5)
        before = rss_kb(server.pid)
        opened = time.perf_counter()
        followers = [Follower(port, follow) for _ in range(streams)]
        tasks = [asyncio.create_task(follower.run(gate)) for follower in followers]
        async with asyncio.timeout(180):
            await asyncio.gather(*(follower.ready for follower in followers))
        open_seconds = time.perf_counter() - opened
        await asyncio.sleep(1.0)
        after = rss_kb(server.pid)
        fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        cpu_before, wall = cpu_seconds(server.pid), time.perf_counter()
        await asyncio.sleep(idle_seconds)
        idle_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.perf_counter() - wall)
        settled = rss_kb(server.pid)
        # Streams the server ended while nothing happened (there should be none).
        dropped = sum(task.done() for task in tasks) + owner_task.done()
        # The owner leaves: the run is cancelled, its error event reaches every follower.
        left = time.perf_counter()
        owner_task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=30)
        ended = sorted(f.ended_at - left for f in followers if f.terminal and f.ended_at > left)
        return {
            "streams": streams,
            "open_seconds": round(open_seconds, 2),
            "rss_before_kb": before,
            "rss_after_kb": after,
            "rss_after_idle_kb": settled,
            "kb_per_stream": round((max(after, settled) - before) / streams, 1),
            "daphne_open_fds": fds,
            "idle_seconds": idle_seconds,
            "idle_cpu_percent": round(idle_cpu * 100, 1),
            "streams_dropped_while_idle": dropped,
            "streams_ended_with_terminal_event": len(ended),
            "streams_still_open_30s_after_cancel": len(pending),
            "terminal_fan_out_p50_ms": round(percentile(ended, 0.5) * 1000, 1) if ended else None,
            "terminal_fan_out_ms": round(ended[-1] * 1000, 1) if ended else None,
        }
    finally:
        owner_task.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(owner_task, *tasks, return_exceptions=True)


# --- profile --------------------------------------------------------------------------


def profile_summary(path: Path, limit: int = 25) -> list[dict[str, Any]]:
    """The functions with the most own time in daphne's cProfile stats."""
    stats = pstats.Stats(str(path))
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls": calls,
                "own_s": round(own, 4),
                "cumulative_s": round(cumulative, 4),
            }
        )
    rows.sort(key=lambda row: row["own_s"], reverse=True)
    return rows[:limit]


# --- the run --------------------------------------------------------------------------


def measure_layer(
    layer: str, redis_url: str | None, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    env = project_env(workdir / f"{layer}.sqlite3", layer, redis_url, args)
    token = prepare_database(env)
    result: dict[str, Any] = {}
    with daphne(env, f"{layer}-requests", profile=args.profile) as server:
        result["first_event"] = asyncio.run(first_event(server.port, token, args.requests))
        result["throughput"], run_id = asyncio.run(
            throughput(server.port, token, args.events, args.floods)
        )
        result["replay"] = asyncio.run(replay(server.port, token, run_id, args.events))
        result["daphne_rss_after_flood_kb"] = rss_kb(server.pid)
    result["server_errors"] = server_errors(server.log)
    if server.profile is not None and server.profile.exists():
        result["profile_top_own_time"] = profile_summary(server.profile)
    # A fresh process, so what the flood left in its heap does not hide the streams' cost.
    with daphne(env, f"{layer}-idle") as server:
        result["idle"] = asyncio.run(idle_streams(server, token, args.streams, args.idle_seconds))
    for error, count in server_errors(server.log).items():
        result["server_errors"][error] = result["server_errors"].get(error, 0) + count
    result["server_error_count"] = sum(result["server_errors"].values())
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    layers = [name.strip() for name in args.layers.split(",") if name.strip()]
    report: dict[str, Any] = {
        "benchmark": "streaming",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": vars(args),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            # Other work on the machine skews every number here; this says how much there was.
            "loadavg_at_start": [round(load, 2) for load in os.getloadavg()],
        },
        "layers": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="agentic-streaming-") as tmp,
        redis(bool({"redis", "pubsub"} & set(layers))) as redis_url,
    ):
        for layer in layers:
            print(f"measuring with the {layer} channel layer...", file=sys.stderr, flush=True)
            report["layers"][layer] = measure_layer(layer, redis_url, args, Path(tmp))
    name = next((layer for layer in ("redis", "pubsub") if layer in report["layers"]), layers[0])
    primary = report["layers"][name]
    checks = {
        "first_event_p50_ms": (primary["first_event"]["p50_ms"], "max", TARGET_FIRST_EVENT_P50_MS),
        "events_per_second": (
            primary["throughput"]["events_per_second"],
            "min",
            TARGET_EVENTS_PER_SECOND,
        ),
        "replay_seconds": (primary["replay"]["seconds"], "max", TARGET_REPLAY_SECONDS),
        "kb_per_idle_stream": (primary["idle"]["kb_per_stream"], "max", TARGET_KB_PER_STREAM),
    }
    report["targets"] = {"layer": name}
    for key, (value, kind, limit) in checks.items():
        met = value < limit if kind == "max" else value >= limit
        report["targets"][key] = {"value": value, kind: limit, "met": met}
    idle = primary["idle"]
    report["targets"]["all_idle_streams_delivered"] = (
        idle["streams_ended_with_terminal_event"] == idle["streams"]
        and idle["streams_dropped_while_idle"] == 0
    )
    return report


ROWS: list[tuple[str, str, str, str, float | None, str]] = [
    # label, section, key, format, target, comparison
    ("first event p50 (ms)", "first_event", "p50_ms", ".2f", TARGET_FIRST_EVENT_P50_MS, "<"),
    ("first event p95 (ms)", "first_event", "p95_ms", ".2f", None, ""),
    ("request → final p50 (ms)", "first_event", "to_final_p50_ms", ".2f", None, ""),
    ("flood events/s (median)", "throughput", "events_per_second", ",.0f",
     TARGET_EVENTS_PER_SECOND, ">="),
    ("flood events/s (min)", "throughput", "events_per_second_min", ",.0f", None, ""),
    ("flood events/s (max)", "throughput", "events_per_second_max", ",.0f", None, ""),
    ("replay seconds", "replay", "seconds", ".3f", TARGET_REPLAY_SECONDS, "<"),
    ("replay events/s", "replay", "events_per_second", ",.0f", None, ""),
    ("idle KB per stream", "idle", "kb_per_stream", ".1f", TARGET_KB_PER_STREAM, "<"),
    ("open the streams (s)", "idle", "open_seconds", ".2f", None, ""),
    ("idle CPU of daphne (%)", "idle", "idle_cpu_percent", ".1f", None, ""),
    ("streams dropped while idle", "idle", "streams_dropped_while_idle", "d", None, ""),
    ("got the terminal event", "idle", "streams_ended_with_terminal_event", "d", None, ""),
    ("terminal fan-out p50 (ms)", "idle", "terminal_fan_out_p50_ms", ".1f", None, ""),
    ("terminal fan-out max (ms)", "idle", "terminal_fan_out_ms", ".1f", None, ""),
    ("errors logged by daphne", "", "server_error_count", "d", None, ""),
]  # fmt: skip


def meets(value: float, target: float, comparison: str) -> bool:
    return value < target if comparison == "<" else value >= target


def cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_report(report: dict[str, Any]) -> None:
    layers = report["layers"]
    settings = report["settings"]
    print(
        f"\nagentic_django streaming over daphne on loopback (SQLite, token auth, "
        f"keepalive {settings['keepalive']}s, Redis socket timeout "
        f"{settings['redis_socket_timeout']}, pool {settings['redis_max_connections']}): "
        f"{settings['requests']} first-event runs, "
        f"{settings['floods']} floods of {settings['events']:,} events, "
        f"{settings['streams']:,} idle streams for {settings['idle_seconds']:g}s\n"
    )
    header = f"{'':28}" + "".join(f"{name:>14}" for name in layers) + f"{'target':>14}"
    print(header)
    print("-" * len(header))
    for label, section, key, fmt, target, comparison in ROWS:
        cells = ""
        for result in layers.values():
            value = (result[section] if section else result)[key]
            mark = ""
            if target is not None and value is not None:
                mark = " ✓" if meets(value, target, comparison) else " ✗"
            cells += f"{cell(value, fmt) + mark:>14}"
        goal = f"{comparison} {target:,g}" if target is not None else ""
        print(f"{label:28}{cells}{goal:>14}")
    print()
    targets = report["targets"]
    name = targets["layer"]
    for key, label, unit, scale in (
        ("first_event_p50_ms", "first event p50", "ms", 1),
        ("events_per_second", "throughput", "events/s", 1),
        ("replay_seconds", "replay of the flood", "ms", 1000),
        ("kb_per_idle_stream", "idle stream", "KB", 1),
    ):
        target = targets[key]
        comparison, limit = ("<", target["max"]) if "max" in target else (">=", target["min"])
        mark = "✓" if target["met"] else "✗ NOT met"
        print(
            f"{name}: {label} {target['value'] * scale:,.1f} {unit} "
            f"(target {comparison} {limit * scale:,g} {unit}) {mark}"
        )
    for layer, result in layers.items():
        idle = result["idle"]
        delivered = idle["streams_ended_with_terminal_event"] == idle["streams"]
        print(
            f"{layer}: {idle['streams_ended_with_terminal_event']}/{idle['streams']} idle streams "
            f"got the run's terminal event{'' if delivered else ' ✗'}, "
            f"{idle['streams_dropped_while_idle']} dropped while idle; daphne RSS "
            f"{idle['rss_before_kb'] / 1024:.0f} → {idle['rss_after_kb'] / 1024:.0f} MiB, "
            f"{idle['daphne_open_fds']} open fds"
        )
        errors = result["server_errors"]
        print(
            f"{layer}: daphne logged {result['server_error_count']} errors"
            + (" ✗" if errors else "")
        )
        for error, count in sorted(errors.items(), key=lambda item: -item[1]):
            print(f"  {count:>6}x {error}")
        for row in result.get("profile_top_own_time", [])[:15]:
            print(f"  {row['own_s']:>8.3f}s own {row['calls']:>9} calls  {row['function']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="first-event runs (measured)")
    parser.add_argument("--events", type=int, default=10_000, help="partials of the flood run")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent idle streams")
    parser.add_argument("--floods", type=int, default=3, help="flood runs (median reported)")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=6.0,
        help="how long the streams idle (longer than channels_redis's 5 s BZPOPMIN)",
    )
    parser.add_argument(
        "--redis-socket-timeout",
        default="10",
        help="Redis client read timeout: seconds, 'none', or 'default' (redis-py's 5 s)",
    )
    parser.add_argument(
        "--keepalive", type=int, default=15, help="AGENTIC_DJANGO STREAM_KEEPALIVE_SECONDS"
    )
    parser.add_argument(
        "--redis-max-connections",
        default="default",
        help="the Redis client's connection pool size, or 'default' (redis-py's: 100)",
    )
    parser.add_argument(
        "--layers", default="redis,memory", help="channel layers: redis, pubsub, memory"
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the request daphne under cProfile"
    )
    args = parser.parse_args()
    report = run(args)
    print_report(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "streaming.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nWrote {out.relative_to(ROOT)}")
    # Targets are reported; a stream that lost its events is a failure.
    return 0 if report["targets"]["all_idle_streams_delivered"] else 1


if __name__ == "__main__":
    sys.exit(main())
