"""ForkServerSandbox: a pool of warm fork servers; every execution is a fresh fork."""

from __future__ import annotations

import asyncio
import queue
import threading
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
from agentic_django.harness.static_analysis import DEFAULT_ALLOWED_MODULES

#: Seconds the server gets beyond the wall-clock limit to kill, reap and report.
REPORT_GRACE_SECONDS = 5.0


class ForkServerSandbox(Sandbox):
    """Runs code in children forked from pre-started ``python -I`` servers.

    The servers start with an empty environment and preload ``preload_modules``,
    so an execution costs a fork instead of an interpreter start. ``pool_size``
    servers serve that many executions at once; a dead or unresponsive server is
    replaced. Servers start on first use (or with :meth:`start`); call
    :meth:`close` (or use the sandbox as a context manager) to stop them.
    ``disable`` names protections not to use (see :data:`PROTECTIONS`): an explicit
    degraded mode, reported on every execution and by the deploy checks. ``run_as``
    (a uid) makes servers started by root serve unprivileged, as a non-root
    deployment would.
    """

    backend = "forkserver"

    def __init__(
        self,
        *,
        pool_size: int = 2,
        limits: SandboxLimits | None = None,
        preload_modules: Sequence[str] = DEFAULT_ALLOWED_MODULES,
        disable: Sequence[str] = (),
        run_as: int | None = None,
    ) -> None:
        super().__init__(limits)
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.pool_size = pool_size
        self.preload_modules = tuple(preload_modules)
        self.disable = check_disable(disable)
        self.run_as = run_as
        self._idle: queue.SimpleQueue[RunnerProcess] = queue.SimpleQueue()
        self._servers: list[RunnerProcess] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def servers(self) -> list[RunnerProcess]:
        """The pool's server handles (for inspection and tests)."""
        return list(self._servers)

    def start(self) -> None:
        """Start every server now instead of on first use."""
        with self._lock:
            if self._closed:
                raise RuntimeError("sandbox is closed")
            if self._servers:
                return
            for _ in range(self.pool_size):
                server = RunnerProcess(
                    preload=self.preload_modules, disable=self.disable, run_as=self.run_as
                )
                server.start()
                self._servers.append(server)
                self._idle.put(server)

    async def execute(
        self, code: str, data: Any = None, limits: SandboxLimits | None = None
    ) -> SandboxResult:
        effective = limits or self.default_limits
        request = build_request(code, data, effective)
        report = await asyncio.to_thread(self._run, request, effective)
        return judge(report, effective, self.backend)

    def execute_sync(
        self, code: str, data: Any = None, limits: SandboxLimits | None = None
    ) -> SandboxResult:
        """Blocking variant of :meth:`execute` for synchronous callers."""
        effective = limits or self.default_limits
        return judge(
            self._run(build_request(code, data, effective), effective), effective, self.backend
        )

    def close(self) -> None:
        """Stop every server; executions in flight finish first."""
        with self._lock:
            self._closed = True
            servers, self._servers = self._servers, []
        for server in servers:
            server.close()

    def _run(self, request: dict[str, Any], limits: SandboxLimits) -> dict[str, Any]:
        self.start()
        server = self._idle.get()
        try:
            if not server.alive:
                server.kill()
                server.start()
            return server.exchange(
                request, limits.wall_seconds + REPORT_GRACE_SECONDS, result_budget(limits)
            )
        except RunnerUnavailable as exc:
            server.kill()
            raise SandboxViolation(
                f"Sandbox server stopped answering: {exc}", policy="sandbox", violations=["server"]
            ) from exc
        finally:
            if self._closed:
                server.close()
            else:
                self._idle.put(server)
