"""Throughput under a slow model, and the framework's own CPU cost, side by side in one run.

1. Framework cost: in one process, ``--concurrency`` requests at a time, the CPU per
   request of the ``slow`` agent endpoint (session, trace, turn and one recorded LLM
   call; the model answers at once here) against a bare adrf view answering the same
   JSON (``concbench.inprocess``). Target: ratio <= 2.
2. Concurrency under a slow model: every intent parsed by a model answering after
   ``--delay`` seconds; one uvicorn process on SQLite and one on PostgreSQL
   (``scripts/postgres.sh``), loaded by ``wrk`` (``scripts/wrk.sh`` installs it) with each
   of ``--connections``: req/s inside the measured window, the ideal
   (connections / delay), their ratio, p50/p99 latency, errors, the server's CPU and
   RSS growth. The measured window opens ``--warmup`` seconds after the first answer,
   so a server slower than the warm-up is still measured once its pipeline is full.
   Targets: >= 0.6x ideal and p99 <= 1.5 s at 200 connections; >= 0.5x ideal, no
   errors and RSS growth <= 150 MB at 1,000.
3. Scale out: ``uvicorn --workers 2`` against one process on PostgreSQL (ratio, target
   >= 1.7), then a correctness pass over two separate processes sharing the database:
   sessions continued turn by turn on alternate processes, and a per-session budget
   that must refuse at the same turn as on a single process.
4. Nothing lost: after each load run the ``ExecutionTrace`` rows written must equal the
   requests wrk sent and got answered (``concbench/load.lua`` lets in-flight requests
   finish instead of abandoning them). A mismatch is printed and the run exits 1.
5. The reference framework (``agentharnessapi`` 0.1.0 on uvicorn, from the venv made by
   ``scripts/reference-venv.sh``; skipped with a message when pyenv has no 3.13) under
   the same model and load.

Each load measurement runs ``--repeat`` times (interleaved); the tables show the median
and the spread (min-max). Results go to ``var/bench/concurrency-<time>.json``. Only
loopback addresses are used. ``--quick`` is a short trial (fewer connections, shorter
windows, one repetition). Usage: ``scripts/bench.sh concurrency [--quick] [--repeat 3]
[--connections 200,1000] [--duration 10] [--no-postgres] [--no-reference]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from concbench.servers import (
    BENCH,
    HOST,
    OUT,
    ROOT,
    Server,
    count_traces,
    migrate,
    postgres,
    project_env,
    raise_nofile,
    sql,
    uvicorn,
)

BODY = {"intent": "show the status of the benchmark"}

TARGET_COST_RATIO = 2.0
TARGET_IDEAL = {200: 0.6, 1000: 0.5}
TARGET_P99_S = 1.5
TARGET_RSS_MB = 150.0
TARGET_SCALE = 1.7


# --- load -----------------------------------------------------------------------------


def wrk(url: str, connections: int, args: argparse.Namespace) -> dict[str, Any]:
    """One bounded wrk run with ``concbench/load.lua``; returns its JSON summary."""
    # The window opens after the first answer: allow a first latency and a drain.
    budget = math.ceil(args.warmup + args.duration + 2 * args.drain)
    threads = min(2, connections)
    marker = Path(tempfile.mkdtemp(prefix="agentic-wrk-")) / "threads-done"
    command = [
        args.wrk, "-t", str(threads), "-c", str(connections), "-d", f"{budget}s",
        "--timeout", f"{math.ceil(args.drain)}s", "-s", str(BENCH / "concbench" / "load.lua"),
        url, "--", str(args.warmup), str(args.duration), str(marker), str(threads),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, preexec_fn=raise_nofile, timeout=budget + 60
    )
    marker.unlink(missing_ok=True)
    marker.parent.rmdir()
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return dict(json.loads(line.removeprefix("BENCH_JSON ")))


def warm_up(url: str) -> None:
    """A few sequential requests, so imports and first connections are not measured."""
    data = json.dumps(BODY).encode()
    for _ in range(3):
        request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def load_run(
    server: Server, path: str, connections: int, args: argparse.Namespace, db: str | None
) -> dict[str, Any]:
    """Load ``server`` once; measures throughput, latency, CPU, RSS, and counts the traces."""
    url = f"http://{HOST}:{server.port}{path}"
    warm_up(url)
    before_traces = count_traces(db) if db else None
    rss_before, cpu_before = server.rss_mb(), server.cpu_seconds()
    summary = wrk(url, connections, args)
    cpu = server.cpu_seconds() - cpu_before
    row: dict[str, Any] = {
        "server": server.label,
        "connections": connections,
        "requests_per_second": round(summary["in_window"] / args.duration, 1),
        "ideal": round(connections / args.delay, 1),
        "p50_s": summary["latency_us"]["p50"] / 1e6,
        "p99_s": summary["latency_us"]["p99"] / 1e6,
        "mean_s": round(summary["latency_us"]["mean"] / 1e6, 4),
        # A parked connection that the server closes as idle is a wrk read error but no
        # lost request; a request that got no answer shows as sent - answered instead.
        "errors": summary["sent"]
        - summary["answered"]
        + sum(summary["errors"][key] for key in ("connect", "write", "timeout"))
        + summary["non_2xx"],
        "non_2xx": summary["non_2xx"],
        "rss_growth_mb": round(server.rss_mb() - rss_before, 1),
        "server_cpu_ms_per_request": round(cpu * 1000 / max(1, summary["answered"]), 2),
        "server_cpu_cores": round(cpu / (summary["duration_us"] / 1e6), 2),
        "wrk": summary,
    }
    row["ratio_to_ideal"] = round(row["requests_per_second"] / row["ideal"], 3)
    problems = []
    if summary["sent"] != summary["answered"]:
        problems.append(f"{summary['sent'] - summary['answered']} requests sent, never answered")
    if db is not None and before_traces is not None:
        traces = count_traces(db) - before_traces
        deadline = time.monotonic() + 10  # a writer may still be flushing the last records
        while traces < summary["answered"] and time.monotonic() < deadline:
            time.sleep(0.2)
            traces = count_traces(db) - before_traces
        row["traces"] = traces
        if traces != summary["answered"]:
            problems.append(f"{traces} traces for {summary['answered']} answered requests")
    row["nothing_lost"] = not problems
    row["problems"] = problems
    return row


# --- scale-out correctness ------------------------------------------------------------


async def post(client: Any, port: int, path: str, session_id: str | None) -> tuple[int, Any]:
    body = {**BODY, **({"session_id": session_id} if session_id else {})}
    response = await client.post(f"http://{HOST}:{port}{path}", json=body)
    return response.status_code, response.json()


async def check_across_processes(
    ports: list[int], db: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Sessions and budgets served by alternate processes agree with one process."""
    import httpx

    problems: list[str] = []
    async with httpx.AsyncClient(timeout=60) as client:

        async def conversation(index: int) -> str | None:
            session_id = None
            for turn in range(args.turns):
                status, data = await post(
                    client, ports[(index + turn) % 2], "/agents/slow/", session_id
                )
                if status != 200:
                    problems.append(f"session turn answered {status}: {data}")
                    return None
                if session_id is not None and data.get("session_id") != session_id:
                    problems.append(f"turn {turn} moved to a new session on another process")
                session_id = data.get("session_id")
            return session_id

        async def spend(alternate: bool) -> list[int]:
            session_id, statuses = None, []
            for turn in range(args.budget_turns):
                port = ports[turn % 2] if alternate else ports[0]
                status, data = await post(client, port, "/agents/budgeted/", session_id)
                statuses.append(status)
                session_id = data.get("session_id", session_id)
            return statuses

        sessions, alternated, single = await asyncio.gather(
            asyncio.gather(*(conversation(i) for i in range(args.sessions))),
            spend(True),
            spend(False),
        )
    for session_id in filter(None, sessions):
        rows = sql(
            db,
            'SELECT t."index", t.trace_id FROM agentic_django_sessionturn t JOIN '
            "agentic_django_agentsession s ON s.id = t.session_id WHERE s.session_id = %s",
            (session_id,),
        )
        indexes = sorted(row[0] for row in rows)
        if (
            len(rows) != args.turns
            or len(set(indexes)) != args.turns
            or None in {r[1] for r in rows}
        ):
            problems.append(
                f"session {session_id}: turns {indexes} (expected {args.turns}, each with a trace)"
            )
    if 402 not in single:
        problems.append(f"the session budget never refused in {args.budget_turns} turns: {single}")
    if alternated != single:
        problems.append(f"budget on alternate processes {alternated} != one process {single}")
    return {
        "sessions": args.sessions,
        "turns": args.turns,
        "budget_statuses_two_processes": alternated,
        "budget_statuses_one_process": single,
        "correct": not problems,
        "problems": problems,
    }


# --- the run --------------------------------------------------------------------------


def framework_cost(db_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One in-process measurement (``concbench.inprocess``) with a model that answers at once."""
    env = project_env(db_url, 0.0)
    command = [sys.executable, "-m", "concbench.inprocess", "--concurrency", str(args.concurrency)]
    command += ["--batches", str(args.batches)]
    done = subprocess.run(command, cwd=BENCH, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"concbench.inprocess failed:\n{done.stdout}{done.stderr}")
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    bare, agent = result["routes"]["bare"], result["routes"]["agent"]
    result["ratio"] = round(agent["cpu_ms_per_request"] / bare["cpu_ms_per_request"], 2)
    problems = []
    for rows in ("traces", "llm_calls"):
        if result[rows] != result["agent_requests_total"]:
            problems.append(f"{result[rows]} {rows} for {result['agent_requests_total']} requests")
    if bare["errors"] or agent["errors"]:
        problems.append(f"errors: bare {bare['errors']}, agent {agent['errors']}")
    result["nothing_lost"], result["problems"] = not problems, problems
    return result


def reference_python(args: argparse.Namespace) -> str | None:
    if args.no_reference:
        return None
    done = subprocess.run(
        [str(ROOT / "scripts" / "reference-venv.sh")], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        print(f"Reference framework skipped: {done.stderr.strip()}", file=sys.stderr)
        return None
    return str(ROOT / done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"cost": [], "load": [], "checks": []}
    ref_python = reference_python(args)
    ref_env = {**os.environ, "PYTHONPATH": str(BENCH), "BENCH_MODEL_DELAY": str(args.delay)}
    with (
        tempfile.TemporaryDirectory(prefix="agentic-concurrency-") as tmp,
        postgres(not args.no_postgres, args.pg_port) as pg_url,
    ):
        sqlite_url = f"sqlite:///{tmp}/bench.sqlite3"
        databases = {"sqlite": sqlite_url, **({"postgres": pg_url} if pg_url else {})}
        for url in databases.values():
            migrate(project_env(url, args.delay))
        cost_url = f"sqlite:///{tmp}/cost.sqlite3"
        migrate(project_env(cost_url, 0.0))
        python = sys.executable
        app = "concbench.asgi:application"
        for repetition in range(args.repeat):
            print(f"-- repetition {repetition + 1}/{args.repeat}", file=sys.stderr)
            results["cost"].append(framework_cost(cost_url, args))
            for connections in args.connections:
                for name, url in databases.items():
                    env = project_env(url, args.delay, args.pg_pool and name == "postgres")
                    with uvicorn(python, app, env, f"ours-{name}", "/agents/health/") as server:
                        row = load_run(server, "/agents/slow/", connections, args, url)
                    results["load"].append({"scenario": f"agentic_django {name}", **row})
                if ref_python:
                    with uvicorn(
                        ref_python, "concbench.reference_app:app", ref_env, "reference", "/health"
                    ) as srv:
                        row = load_run(srv, "/agent/slow", connections, args, None)
                    results["load"].append({"scenario": "reference (agentharnessapi)", **row})
            if pg_url and not args.no_scale_out:
                connections = max(args.connections)
                env = project_env(pg_url, args.delay, args.pg_pool)
                for workers in (1, 2):
                    label = f"ours-postgres-{workers}-workers"
                    with uvicorn(python, app, env, label, "/agents/health/", workers) as server:
                        row = load_run(server, "/agents/slow/", connections, args, pg_url)
                    results["load"].append({"scenario": f"scale-out {workers} process(es)", **row})
        if pg_url and not args.no_scale_out:
            env = project_env(pg_url, args.delay, args.pg_pool)
            with (
                uvicorn(python, app, env, "ours-postgres-a", "/agents/health/") as first,
                uvicorn(python, app, env, "ours-postgres-b", "/agents/health/") as second,
            ):
                check = asyncio.run(check_across_processes([first.port, second.port], pg_url, args))
            results["checks"].append(check)
    return results


# --- report ---------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    """``median [min-max]``, or the single value."""
    if len(values) == 1:
        return f"{values[0]:g}"
    return f"{statistics.median(values):g} [{min(values):g}-{max(values):g}]"


def summarize(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in results["load"]:
        groups.setdefault((row["scenario"], row["connections"]), []).append(row)
    table = []
    for (scenario, connections), rows in groups.items():
        entry: dict[str, Any] = {"scenario": scenario, "connections": connections}
        for key in (
            "requests_per_second", "ideal", "ratio_to_ideal", "p50_s", "p99_s", "errors",
            "rss_growth_mb", "server_cpu_ms_per_request", "server_cpu_cores",
        ):  # fmt: skip
            values = [float(row[key]) for row in rows]
            entry[key] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }
        entry["nothing_lost"] = all(row["nothing_lost"] for row in rows)
        table.append(entry)
    ratios = [float(c["ratio"]) for c in results["cost"]]
    summary: dict[str, Any] = {"load": table}
    if ratios:
        summary["cost_ratio"] = {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        }
    scale = {w: groups.get((f"scale-out {w} process(es)", max(args.connections))) for w in (1, 2)}
    if scale[1] and scale[2]:
        pairs = [
            b["requests_per_second"] / a["requests_per_second"]
            for a, b in zip(scale[1], scale[2], strict=True)
        ]
        summary["scale_out_ratio"] = {
            "median": statistics.median(pairs),
            "min": min(pairs),
            "max": max(pairs),
        }
    return summary


def cell(entry: dict[str, Any], key: str, width: int) -> str:
    """``median [min-max]`` of one summarized measure, right-aligned in ``width``."""
    m = entry[key]
    text = f"{m['median']:.3g}"
    if m["min"] != m["max"]:
        text += f" [{m['min']:.3g}-{m['max']:.3g}]"
    return f"{text:>{width}}"


def print_report(
    results: dict[str, Any], summary: dict[str, Any], args: argparse.Namespace
) -> None:
    print(f"\nConcurrency benchmark: model delay {args.delay:g} s, {args.duration:g} s windows, "
          f"{args.repeat} repetition(s); median [min-max]\n")  # fmt: skip
    if results["cost"]:
        bare = [c["routes"]["bare"]["cpu_ms_per_request"] for c in results["cost"]]
        agent = [c["routes"]["agent"]["cpu_ms_per_request"] for c in results["cost"]]
        ratio = [c["ratio"] for c in results["cost"]]
        print(f"1. Framework cost, in-process, {args.concurrency} concurrent (CPU ms per request)")
        print(f"   bare adrf view {spread(bare)}   agent endpoint {spread(agent)}   "
              f"ratio {spread(ratio)}   (target <= {TARGET_COST_RATIO:g})\n")  # fmt: skip
    header = (
        f"{'scenario':<30}{'conns':>6}{'req/s':>22}{'ideal':>7}{'x ideal':>22}{'p50 s':>20}"
        f"{'p99 s':>20}{'errors':>8}{'RSS +MB':>18}{'CPU ms/req':>18}{'lost?':>7}"
    )
    print("2./3./5. Load (wrk); req/s counted inside the measured window")
    print(header)
    print("-" * len(header))
    for e in summary["load"]:
        print(
            f"{e['scenario']:<30}{e['connections']:>6}{cell(e, 'requests_per_second', 22)}"
            f"{e['ideal']['median']:>7.0f}{cell(e, 'ratio_to_ideal', 22)}{cell(e, 'p50_s', 20)}"
            f"{cell(e, 'p99_s', 20)}{e['errors']['median']:>8.0f}{cell(e, 'rss_growth_mb', 18)}"
            f"{cell(e, 'server_cpu_ms_per_request', 18)}{'ok' if e['nothing_lost'] else 'LOST':>7}"
        )
    targets = ", ".join(f">= {v:g}x ideal at {k}" for k, v in TARGET_IDEAL.items())
    print(
        f"   targets: {targets}; p99 <= {TARGET_P99_S:g} s at 200; "
        f"RSS growth <= {TARGET_RSS_MB:g} MB"
    )
    if "scale_out_ratio" in summary:
        scale = summary["scale_out_ratio"]
        print(
            f"\n3. Scale out on PostgreSQL, 2 processes / 1 process: {scale['median']:.2f} "
            f"[{scale['min']:.2f}-{scale['max']:.2f}] (target >= {TARGET_SCALE:g}; the reference "
            "keeps sessions in process memory and cannot run as two processes)"
        )
    for check in results["checks"]:
        verdict = "correct" if check["correct"] else "WRONG: " + "; ".join(check["problems"])
        print(f"   across two processes: {check['sessions']} sessions x {check['turns']} turns and "
              f"a per-session budget -> {verdict}")  # fmt: skip
        print(f"   budget statuses, alternate processes {check['budget_statuses_two_processes']}, "
              f"one process {check['budget_statuses_one_process']}")  # fmt: skip


def failures(results: dict[str, Any]) -> list[str]:
    found = [f"framework cost run: {p}" for c in results["cost"] for p in c["problems"]]
    found += [
        f"{r['scenario']} {r['connections']} conns: {p}"
        for r in results["load"]
        for p in r["problems"]
    ]
    found += [f"across processes: {p}" for c in results["checks"] for p in c["problems"]]
    return found


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a short trial: 50,200 connections, 4 s, 1 repetition"
    )
    parser.add_argument("--repeat", type=int, help="repetitions of every measurement (3; quick: 1)")
    parser.add_argument("--connections", help="comma-separated wrk connection counts (200,1000)")
    parser.add_argument(
        "--duration", type=float, help="measured seconds per load run (10; quick: 4)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="unmeasured seconds before the window"
    )
    parser.add_argument(
        "--drain", type=float, default=60.0, help="at most this long for in-flight requests"
    )
    parser.add_argument(
        "--delay", type=float, default=0.5, help="seconds the model takes per intent"
    )
    parser.add_argument(
        "--concurrency", type=int, default=50, help="in-process concurrent requests"
    )
    parser.add_argument(
        "--batches", type=int, help="in-process measured batches per route (20; quick: 5)"
    )
    parser.add_argument(
        "--sessions", type=int, default=20, help="sessions of the cross-process check"
    )
    parser.add_argument("--turns", type=int, default=4, help="turns per session of that check")
    parser.add_argument("--budget-turns", type=int, default=12, help="requests against the budget")
    parser.add_argument("--pg-port", default=os.environ.get("AGENTIC_BENCH_PG_PORT", "55430"))
    parser.add_argument("--pg-pool", action="store_true", help="psycopg's pool on PostgreSQL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only (no scale-out)")
    parser.add_argument("--no-scale-out", action="store_true", help="skip the two-process runs")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference framework")
    args = parser.parse_args()
    quick = args.quick
    args.repeat = args.repeat or (1 if quick else 3)
    args.duration = args.duration or (4.0 if quick else 10.0)
    args.batches = args.batches or (5 if quick else 20)
    args.connections = [
        int(c) for c in (args.connections or ("50,200" if quick else "200,1000")).split(",")
    ]
    return args


def main() -> int:
    args = parse_args()
    raise_nofile()
    args.wrk = subprocess.run(
        [str(ROOT / "scripts" / "wrk.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results = run(args)
    summary = summarize(results, args)
    print_report(results, summary, args)
    problems = failures(results)
    report = {
        "benchmark": "concurrency",
        "created": started,
        "settings": {k: v for k, v in vars(args).items()},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "summary": summary,
        "runs": results,
        "failures": problems,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"concurrency-{started}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {out.relative_to(ROOT)}")
    if problems:
        print("\nNOTHING-LOST / CORRECTNESS CHECK FAILED:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
