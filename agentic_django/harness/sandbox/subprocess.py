"""SubprocessSandbox: a fresh interpreter per execution (portable fallback, benchmark baseline)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from agentic_django.core.exceptions import SandboxViolation
from agentic_django.harness.sandbox.base import (
    Sandbox,
    SandboxLimits,
    SandboxResult,
    build_request,
    check_disable,
    judge,
    result_budget,
)
from agentic_django.harness.sandbox.channel import RunnerProcess, RunnerUnavailable
from agentic_django.harness.sandbox.forkserver import REPORT_GRACE_SECONDS


class SubprocessSandbox(Sandbox):
    """Starts ``python -I`` with an empty environment for every execution.

    Same isolation and limits as :class:`ForkServerSandbox`, paying an
    interpreter start each time. Holds no processes between executions, so it
    needs neither starting nor closing.
    """

    backend = "subprocess"

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        disable: Sequence[str] = (),
        run_as: int | None = None,
    ) -> None:
        super().__init__(limits)
        self.disable = check_disable(disable)
        self.run_as = run_as

    async def execute(
        self, code: str, data: Any = None, limits: SandboxLimits | None = None
    ) -> SandboxResult:
        effective = limits or self.default_limits
        request = build_request(code, data, effective)
        report = await asyncio.to_thread(self._run, request, effective)
        return judge(report, effective, self.backend)

    def _run(self, request: dict[str, Any], limits: SandboxLimits) -> dict[str, Any]:
        process = RunnerProcess(once=True, disable=self.disable, run_as=self.run_as)
        try:
            process.start()
            return process.exchange(
                request, limits.wall_seconds + REPORT_GRACE_SECONDS, result_budget(limits)
            )
        except RunnerUnavailable as exc:
            raise SandboxViolation(
                f"Sandbox process stopped answering: {exc}", policy="sandbox", violations=["server"]
            ) from exc
        finally:
            process.kill()
