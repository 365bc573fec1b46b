"""Sandbox benchmark: the same small program in ForkServerSandbox and SubprocessSandbox.

Prints executions per second and p50 / p99 latency of both side by side, with
their ratio, and writes the numbers to ``benchmarks/results/sandbox.json``.
Run: ``.venv/bin/python benchmarks/sandbox.py``.
"""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import sys
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
RESULTS = Path(__file__).resolve().parent / "results" / "sandbox.json"


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


async def measure_codegen_cache() -> dict[str, Any] | None:
    """Codegen endpoint end to end with the mock LLM, code cache cold vs warm.

    Placeholder for the lead: return ``{"cold": {...}, "warm": {...}}`` once the
    code generator and the cache exist; ``None`` means "not measured".
    """
    return None


async def main() -> dict[str, Any]:
    forkserver = ForkServerSandbox(pool_size=2)
    try:
        forkserver.start()
        fork_numbers = await measure(forkserver, FORKSERVER_RUNS)
    finally:
        forkserver.close()
    subprocess_numbers = await measure(SubprocessSandbox(), SUBPROCESS_RUNS)
    report: dict[str, Any] = {
        "program": PROGRAM.strip(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "forkserver": fork_numbers,
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
    print(f"p50 ratio (subprocess / forkserver): {report['p50_ratio']:.1f}x (target >= 5x)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return report


if __name__ == "__main__":
    asyncio.run(main())
