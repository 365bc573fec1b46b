"""ResourcePolicy: the run-time limits handed to, and enforced by, the sandbox."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveFloat, PositiveInt

from agentic_django.harness.policies.base import Policy, PolicyResult
from agentic_django.harness.sandbox.base import SandboxLimits


class ResourcePolicy(Policy):
    """CPU, memory, wall time and output limits for one sandboxed execution.

    These are not advisory: :meth:`to_limits` produces the ``SandboxLimits`` the
    sandbox enforces with rlimits and a wall-clock kill.
    """

    max_cpu_seconds: PositiveFloat = 5.0
    max_memory_mb: PositiveInt = 256
    max_wall_seconds: PositiveFloat = 10.0
    max_output_bytes: PositiveInt = Field(default=1_000_000)

    def to_limits(self, allowed_modules: list[str] | None = None) -> SandboxLimits:
        """The sandbox limits this policy stands for."""
        extra: dict[str, Any] = {}
        if allowed_modules is not None:
            extra["allowed_modules"] = tuple(allowed_modules)
        return SandboxLimits(
            cpu_seconds=self.max_cpu_seconds,
            memory_mb=self.max_memory_mb,
            wall_seconds=self.max_wall_seconds,
            max_output_bytes=self.max_output_bytes,
            **extra,
        )

    def evaluate(self, *, code: str, **context: Any) -> PolicyResult:
        warnings = []
        if self.max_wall_seconds < self.max_cpu_seconds:
            warnings.append(
                "max_wall_seconds is below max_cpu_seconds; the wall clock will stop code first"
            )
        return self.result(warnings=warnings)

    @classmethod
    def strictest(cls, policies: list[ResourcePolicy]) -> ResourcePolicy | None:
        """Combine several resource policies into one holding the lowest of each limit."""
        if not policies:
            return None
        return cls(
            max_cpu_seconds=min(p.max_cpu_seconds for p in policies),
            max_memory_mb=min(p.max_memory_mb for p in policies),
            max_wall_seconds=min(p.max_wall_seconds for p in policies),
            max_output_bytes=min(p.max_output_bytes for p in policies),
        )
