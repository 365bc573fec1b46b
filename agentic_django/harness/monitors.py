"""Monitors: checks on a finished sandbox execution's measurements."""

from __future__ import annotations

import json
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentic_django.harness.sandbox.base import SandboxResult


class MonitorResult(BaseModel):
    """What one monitor found; ``ok`` is false when there is a violation."""

    model_config = ConfigDict(extra="forbid")

    monitor: str
    ok: bool = True
    violations: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class ExecutionMonitor(Protocol):
    """Anything that judges a :class:`SandboxResult` after the fact."""

    def check(self, result: SandboxResult) -> MonitorResult: ...


class WallTimeMonitor(BaseModel):
    """Flags executions slower than ``max_ms``; warns from ``warn_ratio`` of it."""

    model_config = ConfigDict(extra="forbid")

    max_ms: float = Field(default=10_000.0, gt=0)
    warn_ratio: float = Field(default=0.8, gt=0, le=1)

    def check(self, result: SandboxResult) -> MonitorResult:
        if result.duration_ms > self.max_ms:
            return MonitorResult(
                monitor="wall_time",
                ok=False,
                violations=[f"took {result.duration_ms:.1f} ms, limit {self.max_ms:.0f} ms"],
            )
        warnings = []
        if result.duration_ms > self.max_ms * self.warn_ratio:
            warnings.append(f"took {result.duration_ms:.1f} ms, close to {self.max_ms:.0f} ms")
        return MonitorResult(monitor="wall_time", warnings=warnings)


class OutputSizeMonitor(BaseModel):
    """Flags results whose JSON plus printed output is larger than ``max_bytes``."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(default=1_000_000, gt=0)

    def check(self, result: SandboxResult) -> MonitorResult:
        # Generated code may print lone surrogates: count them rather than fail on them.
        size = len(json.dumps(result.result, default=str).encode()) + len(
            result.stdout.encode("utf-8", "surrogatepass")
        )
        if size > self.max_bytes:
            return MonitorResult(
                monitor="output_size",
                ok=False,
                violations=[f"output is {size} bytes, limit {self.max_bytes}"],
            )
        return MonitorResult(monitor="output_size")


def run_monitors(monitors: list[ExecutionMonitor], result: SandboxResult) -> list[MonitorResult]:
    """Every monitor's verdict on ``result``, in order."""
    return [monitor.check(result) for monitor in monitors]
