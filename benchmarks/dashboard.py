"""How fast the usage dashboard's figures are when the database does the work.

Seeds a throwaway database with 100,000 execution traces spread over 90 days across
eight agents, about 150,000 LLM calls and 2,000 approval requests (``bulk_create``),
then, for the last 7, 30 and 90 days, measures side by side:

* ``service``: :func:`agentic_django.services.usage.usage_report` (aggregate queries);
* ``naive``: a Python loop over every trace, LLM call and approval of the period
  computing the same figures (checked equal to the service's);
* ``page``: the whole admin page, rendered through Django's test client.

Prints the median of ``--runs`` timings, the number of queries and the peak Python
memory (tracemalloc) of each, and writes ``benchmarks/results/dashboard-<vendor>.json``.
SQLite (a temporary file) by default; with ``DATABASE_URL`` pointing at a PostgreSQL
server (``scripts/postgres.sh start``), a database ``bench_dashboard`` is created on
it for the run and dropped afterwards; the server is left running.
Usage: ``python benchmarks/dashboard.py [--runs 5] [--traces 100000]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
PG_DATABASE = "bench_dashboard"
DAYS = 90
PERIODS = (7, 30, 90)
BATCH = 5_000
#: Agents and their share of the traffic; latencies differ per agent (median ms).
AGENTS = {
    "orders": (0.30, 40),
    "catalog": (0.20, 25),
    "shopper": (0.15, 900),
    "analytics": (0.10, 1500),
    "refunds": (0.10, 120),
    "assistant": (0.08, 60),
    "restock": (0.04, 2500),
    "export": (0.03, 300),
}
STATUSES = {
    "completed": 0.86,
    "error": 0.04,
    "policy_denied": 0.03,
    "pending_approval": 0.02,
    "budget_exceeded": 0.02,
    "clarification_needed": 0.02,
    "agent_disabled": 0.01,
}
APPROVAL_STATUSES = {
    "pending": 0.10,
    "approved": 0.05,
    "executed": 0.55,
    "rejected": 0.15,
    "failed": 0.05,
    "expired": 0.10,
}
#: LLM calls per trace, drawn uniformly: 1.5 on average.
CALLS_PER_TRACE = (0, 1, 1, 2, 2, 3)
#: USD per million tokens (a mid-size hosted model).
PRICE_IN, PRICE_OUT = 3.0, 15.0


# --- the throwaway database and Django -------------------------------------------------


@contextmanager
def database(workdir: Path) -> Iterator[dict[str, Any]]:
    """A DATABASES entry: a SQLite file, or a fresh database on ``DATABASE_URL``'s server."""
    import environ

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        yield {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "bench.sqlite3")}
        return
    config = environ.Env.db_url_config(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"DATABASE_URL must point at PostgreSQL (or be unset), not {url!r}")
    import psycopg

    def admin(statement: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement)

    admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
    admin(f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield {**config, "NAME": PG_DATABASE}
    finally:
        from django.db import connections

        connections.close_all()
        admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")


def set_up_django(db: dict[str, Any]) -> None:
    """Minimal settings: the admin and agentic_django, this module as the URLconf."""
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        ROOT_URLCONF=__name__,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "rest_framework",
            "agentic_django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={"default": db},
        STATIC_URL="/static/",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()
    from django.contrib import admin
    from django.urls import path

    globals()["urlpatterns"] = [path("admin/", admin.site.urls)]


# --- data --------------------------------------------------------------------------------


def _pick(generator: random.Random, weights: dict[str, float]) -> str:
    return generator.choices(list(weights), weights=list(weights.values()))[0]


def seed(traces: int, approvals: int, now: datetime) -> dict[str, int]:
    """Traces, their LLM calls and approvals, spread uniformly over the last 90 days."""
    from django.db import connection, transaction

    from agentic_django.models import ApprovalRequest, ExecutionTrace, LLMCall

    generator = random.Random(2025)
    agent_weights = {name: share for name, (share, _ms) in AGENTS.items()}
    span = DAYS * 86_400
    calls = 0
    for first in range(0, traces, BATCH):
        with transaction.atomic():
            batch = []
            for _ in range(min(BATCH, traces - first)):
                name = _pick(generator, agent_weights)
                batch.append(
                    ExecutionTrace(
                        endpoint_name=name,
                        status=_pick(generator, STATUSES),
                        intent_raw="how many orders shipped last week?",
                        duration_ms=round(
                            generator.lognormvariate(math.log(AGENTS[name][1]), 0.6), 3
                        ),
                        created_at=now - timedelta(seconds=generator.uniform(0, span)),
                    )
                )
            ExecutionTrace.objects.bulk_create(batch)
            linked = connection.features.can_return_rows_from_bulk_insert
            rows = []
            for trace in batch:
                for _ in range(generator.choice(CALLS_PER_TRACE)):
                    tokens_in = int(generator.lognormvariate(7, 0.7))
                    tokens_out = int(generator.lognormvariate(5, 0.7))
                    cost = (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / 1_000_000
                    rows.append(
                        LLMCall(
                            trace=trace if linked else None,
                            endpoint_name=trace.endpoint_name,
                            alias="default",
                            provider="anthropic",
                            model="claude-sonnet-4-6",
                            purpose="loop",
                            input_tokens=tokens_in,
                            output_tokens=tokens_out,
                            cost_usd=Decimal(f"{cost:.6f}"),
                            latency_ms=trace.duration_ms / 2,
                            created_at=trace.created_at,
                        )
                    )
            LLMCall.objects.bulk_create(rows, batch_size=BATCH)
            calls += len(rows)
    asked = []
    for _ in range(approvals):
        created = now - timedelta(seconds=generator.uniform(0, span))
        asked.append(
            ApprovalRequest(
                kind="tool_call",
                status=_pick(generator, APPROVAL_STATUSES),
                endpoint_name=_pick(generator, {"shopper": 0.6, "refunds": 0.3, "restock": 0.1}),
                rule_name="writes",
                action={"tool": "cancel_order", "arguments": {"order_id": 1}},
                fingerprint="0" * 64,
                created_at=created,
                expires_at=created + timedelta(hours=1),
            )
        )
    ApprovalRequest.objects.bulk_create(asked, batch_size=BATCH)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"traces": traces, "llm_calls": calls, "approvals": approvals}


# --- the naive way -----------------------------------------------------------------------


def naive_figures(start: datetime, end: datetime) -> dict[str, Any]:
    """The dashboard's figures from a Python loop over every row of the period."""
    from django.utils import timezone

    from agentic_django.models import ApprovalRequest, ExecutionTrace, LLMCall
    from agentic_django.services.usage import DECIDED_APPROVALS, PERCENTILES

    agents: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    durations: dict[str, list[float]] = defaultdict(list)
    daily: dict[tuple[str, date], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    window = {"created_at__gte": start, "created_at__lt": end}
    for trace in ExecutionTrace.objects.filter(**window):
        figures = agents[trace.endpoint_name]
        figures["requests"] += 1
        for status in ("error", "policy_denied", "budget_exceeded", "agent_disabled"):
            figures[status] += trace.status == status
        durations[trace.endpoint_name].append(trace.duration_ms)
        day = daily[trace.endpoint_name, timezone.localdate(trace.created_at)]
        day["requests"] += 1
        day["errors"] += trace.status == "error"
    for call in LLMCall.objects.filter(**window):
        figures = agents[call.endpoint_name]
        figures["llm_calls"] += 1
        figures["cost_usd"] += call.cost_usd
        figures["input_tokens"] += call.input_tokens
        figures["output_tokens"] += call.output_tokens
        day = daily[call.endpoint_name, timezone.localdate(call.created_at)]
        day["cost_usd"] += call.cost_usd
        day["tokens"] += call.input_tokens + call.output_tokens
    for approval in ApprovalRequest.objects.filter(**window):
        figures = agents[approval.endpoint_name]
        figures["approvals_pending"] += approval.status == "pending"
        figures["approvals_decided"] += approval.status in DECIDED_APPROVALS
        figures["approvals_expired"] += approval.status == "expired"
    for name, values in durations.items():
        values.sort()
        for key, fraction in PERCENTILES.items():
            rank = fraction * (len(values) - 1)
            below = math.floor(rank)
            high = values[min(below + 1, len(values) - 1)]
            agents[name][key] = values[below] + (high - values[below]) * (rank - below)
    return {"agents": agents, "daily": daily}


def check_same(report: Any, naive: dict[str, Any]) -> None:
    """The service and the loop must agree, or the timings compare different work."""
    assert {usage.endpoint_name for usage in report.agents} == set(naive["agents"])
    for usage in report.agents:
        loop = naive["agents"][usage.endpoint_name]
        for key in ("requests", "llm_calls", "input_tokens", "output_tokens", "approvals_pending"):
            assert getattr(usage, key) == loop[key], (usage.endpoint_name, key)
        assert usage.errors == loop["error"] and usage.policy_denied == loop["policy_denied"]
        assert usage.cost_usd == loop["cost_usd"], usage.endpoint_name
        assert usage.approvals_decided == loop["approvals_decided"]
        for key in ("p50_ms", "p95_ms"):
            assert math.isclose(getattr(usage, key), loop[key], rel_tol=1e-9), (usage, key)
    assert len(report.daily) == len(naive["daily"])
    for row in report.daily:
        loop = naive["daily"][row.endpoint_name, row.day]
        assert (row.requests, row.errors, row.cost_usd, row.tokens) == (
            loop["requests"],
            loop["errors"],
            loop["cost_usd"],
            loop["tokens"],
        ), row


# --- measuring ---------------------------------------------------------------------------


def median_ms(work: Callable[[], Any], runs: int) -> float:
    work()  # warm: connections, caches, query plans
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def queries_and_peak(work: Callable[[], Any]) -> tuple[int, int]:
    """Queries run and peak Python memory (bytes) of one call."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    # A request clears the query log when it starts: start from an empty one, so the
    # capture's starting index stays valid.
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        work()
    count = len(queries)  # now: the capture reads the connection's log lazily
    tracemalloc.start()
    try:
        work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return count, peak


def measure(runs: int, now: datetime) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from agentic_django.models import ExecutionTrace
    from agentic_django.services.usage import Period, usage_report

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", "b@example.com", "pw"))
    rows = []
    for days in PERIODS:
        period = Period.last_days(days, now=now)
        check_same(usage_report(period), naive_figures(period.start, period.end))

        def service(period: Period = period) -> Any:
            return usage_report(period)

        def naive(period: Period = period) -> Any:
            return naive_figures(period.start, period.end)

        def page(days: int = days) -> Any:
            response = client.get(f"/admin/agentic_django/agent/dashboard/?period={days}d")
            assert response.status_code == 200, response.status_code
            return response

        service_queries, service_peak = queries_and_peak(service)
        naive_queries, naive_peak = queries_and_peak(naive)
        page_queries, _ = queries_and_peak(page)
        row = {
            "period_days": days,
            "traces": ExecutionTrace.objects.filter(
                created_at__gte=period.start, created_at__lt=period.end
            ).count(),
            "service_ms": median_ms(service, runs),
            "naive_ms": median_ms(naive, runs),
            "page_ms": median_ms(page, runs),
            "service_queries": service_queries,
            "naive_queries": naive_queries,
            "page_queries": page_queries,
            "service_peak_kib": service_peak / 1024,
            "naive_peak_kib": naive_peak / 1024,
        }
        row["ratio"] = row["naive_ms"] / row["service_ms"]
        rows.append(row)
        print(f"  measured {days} days", file=sys.stderr)
    return rows


def print_table(vendor: str, seeded: dict[str, int], rows: list[dict[str, Any]], runs: int) -> None:
    print(
        f"\nusage dashboard on {vendor}: {seeded['traces']:,} traces, {seeded['llm_calls']:,} "
        f"LLM calls, {seeded['approvals']:,} approvals over {DAYS} days, {len(AGENTS)} agents "
        f"(median of {runs} runs)\n"
    )
    header = (
        f"{'period':>7}{'traces':>9}{'service ms':>12}{'naive ms':>11}{'naive/svc':>11}"
        f"{'queries svc/naive':>19}{'peak KiB svc/naive':>21}{'page ms':>9}{'page q':>8}"
    )
    print(header)
    for row in rows:
        print(
            f"{str(row['period_days']) + 'd':>7}{row['traces']:>9,}{row['service_ms']:>12.1f}"
            f"{row['naive_ms']:>11.1f}{row['ratio']:>10.1f}x"
            f"{row['service_queries']:>10} / {row['naive_queries']:<6}"
            f"{row['service_peak_kib']:>11,.0f} / {row['naive_peak_kib']:<8,.0f}"
            f"{row['page_ms']:>9.1f}{row['page_queries']:>8}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--approvals", type=int, default=2_000)
    args, _unknown = parser.parse_known_args()  # scripts/bench.sh passes every option along
    with (
        tempfile.TemporaryDirectory(prefix="agentic-dashboard-") as workdir,
        database(Path(workdir)) as db,
    ):
        set_up_django(db)
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        call_command("migrate", verbosity=0)
        now = timezone.now()
        started = time.perf_counter()
        seeded = seed(args.traces, args.approvals, now)
        print(f"  seeded in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        rows = measure(args.runs, now)
        vendor = connection.vendor
    print_table(vendor, seeded, rows, args.runs)
    report = {
        "vendor": vendor,
        "python": platform.python_version(),
        "runs": args.runs,
        "seeded": seeded,
        "periods": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"dashboard-{vendor}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
