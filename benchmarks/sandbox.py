"""Sandbox benchmark: the same small program in ForkServerSandbox and SubprocessSandbox.

Prints executions per second and p50 / p99 latency of both side by side, with
their ratio; then the example shop's ``analytics`` endpoint (``codegen=True``) end
to end through the pipeline with the demo LLM, code cache cold vs warm, with the
LLM calls each request made. Writes ``benchmarks/results/sandbox.json``.
Run: ``.venv/bin/python benchmarks/sandbox.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentic_django.harness.sandbox import (
    ForkServerSandbox,
    Sandbox,
    SubprocessSandbox,
)

PROGRAM = """
import statistics
values = [row["amount"] for row in data["orders"]]
result = {"count": len(values), "mean": statistics.mean(values), "max": max(values)}
"""
DATA = {"orders": [{"id": i, "amount": (i * 37) % 101} for i in range(50)]}
FORKSERVER_RUNS = 200
SUBPROCESS_RUNS = 50
WARMUP_RUNS = 5
CODEGEN_RUNS = 40
#: A provider round trip, simulated on top of the demo LLM for the second comparison.
SIMULATED_LLM_MS = 300
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "sandbox.json"


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``samples``."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


async def measure(sandbox: Sandbox, runs: int) -> dict[str, float]:
    """Run PROGRAM ``runs`` times one after another; latency in milliseconds."""
    for _ in range(WARMUP_RUNS):
        await sandbox.execute(PROGRAM, DATA)
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(runs):
        begin = time.perf_counter()
        outcome = await sandbox.execute(PROGRAM, DATA)
        latencies.append((time.perf_counter() - begin) * 1000)
        assert outcome.result["count"] == 50
    elapsed = time.perf_counter() - started
    return {
        "runs": runs,
        "executions_per_second": runs / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies),
    }


def prepare_shop(database: Path) -> None:
    """Migrate and seed a fresh SQLite database for the example project."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    for command in (("migrate", "--noinput"), ("seed_shop",)):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
            capture_output=True,
        )  # fmt: skip


async def measure_codegen_cache() -> dict[str, Any]:
    """The ``analytics`` endpoint end to end (parse, codegen or cache, harness, sandbox, trace).

    ``cold`` empties the code cache before every request; ``warm`` serves the same
    question from it. With the example project's demo LLM the LLM itself costs next
    to nothing, so that pair shows the framework's own work; the ``slow_llm`` pair
    adds a simulated provider round trip of ``SIMULATED_LLM_MS`` to every LLM call.
    """
    workdir = Path(tempfile.mkdtemp(prefix="agentic-bench-"))
    prepare_shop(workdir / "shop.sqlite3")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'shop.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    os.environ["DEBUG"] = "false"
    import django

    django.setup()
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    from agentic_django.models import CodeCacheEntry, LLMCall
    from agentic_django.registry import agents
    from agentic_django.services.llm import llm_backends
    from agentic_django.services.pipeline import process_intent
    from agentic_django.services.sandboxes import sandboxes
    from example_project.shop.demo_llm import ShopDemoBackend

    class SlowDemoBackend(ShopDemoBackend):
        async def generate(self, prompt: Any) -> Any:
            await asyncio.sleep(SIMULATED_LLM_MS / 1000)
            return await super().generate(prompt)

    user, _ = await get_user_model().objects.aget_or_create(
        username="bench-analyst", defaults={"email": "ada.lovelace@example.com"}
    )
    endpoint = agents.get("analytics")
    question = "revenue by status"

    async def request() -> float:
        begin = time.perf_counter()
        outcome = await process_intent(agents, endpoint, question, user=user)
        elapsed = (time.perf_counter() - begin) * 1000
        assert outcome.status_code == 200, outcome.response
        return elapsed

    async def run(mode: str) -> dict[str, float]:
        latencies = []
        calls_before = await LLMCall.objects.filter(purpose="code_generate").acount()
        for _ in range(CODEGEN_RUNS):
            if mode == "cold":
                await CodeCacheEntry.objects.all().adelete()
            latencies.append(await request())
        calls = await LLMCall.objects.filter(purpose="code_generate").acount() - calls_before
        return {
            "runs": CODEGEN_RUNS,
            "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99),
            "mean_ms": statistics.fmean(latencies),
            "codegen_llm_calls_per_request": calls / CODEGEN_RUNS,
        }

    try:
        for _ in range(WARMUP_RUNS):
            await request()
        cold = await run("cold")
        await request()  # leaves the entry the warm runs hit
        warm = await run("warm")
        with llm_backends.override("default", SlowDemoBackend()):
            slow_cold = await run("cold")
            await request()
            slow_warm = await run("warm")
    finally:
        await sync_to_async(sandboxes.close_all)()
    return {
        "endpoint": "analytics",
        "question": question,
        "cold": cold,
        "warm": warm,
        "slow_llm": {"llm_ms": SIMULATED_LLM_MS, "cold": slow_cold, "warm": slow_warm},
    }


async def main() -> dict[str, Any]:
    forkserver = ForkServerSandbox(pool_size=2)
    try:
        forkserver.start()
        isolation = (await forkserver.execute(PROGRAM, DATA)).isolation
        fork_numbers = await measure(forkserver, FORKSERVER_RUNS)
    finally:
        forkserver.close()
    subprocess_numbers = await measure(SubprocessSandbox(), SUBPROCESS_RUNS)
    report: dict[str, Any] = {
        "program": PROGRAM.strip(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "forkserver": fork_numbers,
        "forkserver_isolation": isolation.model_dump(mode="json"),
        "subprocess": subprocess_numbers,
        "p50_ratio": subprocess_numbers["p50_ms"] / fork_numbers["p50_ms"],
        "throughput_ratio": fork_numbers["executions_per_second"]
        / subprocess_numbers["executions_per_second"],
        "codegen_cache": await measure_codegen_cache(),
    }
    print(f"{'':24}{'forkserver':>14}{'subprocess':>14}")
    for key, label in (
        ("executions_per_second", "executions / s"),
        ("p50_ms", "p50 latency (ms)"),
        ("p99_ms", "p99 latency (ms)"),
    ):
        print(f"{label:24}{fork_numbers[key]:>14.1f}{subprocess_numbers[key]:>14.1f}")
    print(f"p50 ratio (subprocess / forkserver): {report['p50_ratio']:.1f}x (target >= 4x)")
    print(f"target: forkserver p50 <= 15 ms with every protection; missing: {isolation.missing()}")
    cache = report["codegen_cache"]
    print(f"\ncodegen endpoint {cache['endpoint']!r}{'cache cold':>14}{'cache warm':>14}")
    for key, label in (
        ("p50_ms", "p50 latency (ms)"),
        ("p99_ms", "p99 latency (ms)"),
        ("codegen_llm_calls_per_request", "codegen LLM calls / request"),
    ):
        print(f"{label:30}{cache['cold'][key]:>14.2f}{cache['warm'][key]:>14.2f}")
    slow = cache["slow_llm"]
    print(
        f"with a {slow['llm_ms']} ms LLM: p50 cold {slow['cold']['p50_ms']:.1f} ms, "
        f"warm {slow['warm']['p50_ms']:.1f} ms "
        f"({slow['cold']['p50_ms'] / slow['warm']['p50_ms']:.1f}x faster warm)"
    )
    print("target: a cache hit makes 0 LLM calls")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return report


if __name__ == "__main__":
    asyncio.run(main())
