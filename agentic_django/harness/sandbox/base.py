"""The sandbox contract: limits in, a result or a specific error out."""

from __future__ import annotations

import abc
import json
import signal
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from agentic_django.core.exceptions import CodeExecutionError, SandboxViolation
from agentic_django.harness.static_analysis import DEFAULT_ALLOWED_MODULES

#: Extra bytes allowed on the result pipe beyond twice ``max_output_bytes`` (frames, JSON).
FRAME_SLACK = 64 * 1024
#: Share of the CPU limit a killed worker must have used to be judged over it
#: (the kernel counts in ticks; the limit is rounded up to whole seconds).
CPU_MEASURE_SLACK = 0.9


class SandboxLimits(BaseModel):
    """What one execution may use; enforced by the sandbox, not advisory.

    ``memory_mb`` is address space the code may allocate on top of the
    interpreter it runs in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_seconds: PositiveFloat = 5.0
    memory_mb: PositiveInt = 256
    wall_seconds: PositiveFloat = 10.0
    max_output_bytes: PositiveInt = 1_000_000
    allowed_modules: tuple[str, ...] = DEFAULT_ALLOWED_MODULES


class SandboxIsolation(BaseModel):
    """How the execution was confined, as reported by the worker before the code ran.

    Every execution is forked from a runner that never held a request (``pristine``);
    the rest depends on what the kernel grants: :meth:`missing` names what was not.
    """

    model_config = ConfigDict(extra="forbid")

    pristine: bool = True
    pid_namespace: bool = False
    ipc_namespace: bool = False
    mount_namespace: bool = False
    network_namespace: bool = False
    uts_namespace: bool = False
    user_namespace: bool = False
    seccomp: bool = False
    chroot: bool = False
    uid: int = -1
    uid_dropped: bool = False
    capabilities_dropped: bool = False

    def missing(self) -> list[str]:
        """The protections this execution ran without (empty when fully isolated)."""
        wanted = ("pid_namespace", "ipc_namespace", "mount_namespace", "network_namespace")
        gaps = [name for name in (*wanted, "seccomp", "chroot") if not getattr(self, name)]
        if not (self.uid_dropped or self.capabilities_dropped):
            gaps.append("privileges_dropped")
        return gaps

    @property
    def fully_isolated(self) -> bool:
        """True when no protection is missing (see :meth:`missing`)."""
        return not self.missing()


class SandboxResult(BaseModel):
    """The value the code left in ``result``, its printed output and measurements."""

    model_config = ConfigDict(extra="forbid")

    result: Any = None
    stdout: str = ""
    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    max_rss_kb: int = 0
    backend: str = ""
    isolation: SandboxIsolation = Field(default_factory=SandboxIsolation)


class Sandbox(abc.ABC):
    """Runs untrusted Python with ``data`` bound and returns what it left in ``result``.

    Raises :class:`SandboxViolation` when a limit is hit or the code does
    something forbidden, :class:`CodeExecutionError` when the code raises.
    """

    #: Short name reported on results and traces.
    backend: str = ""

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.default_limits = limits or SandboxLimits()

    @abc.abstractmethod
    async def execute(
        self, code: str, data: Any = None, limits: SandboxLimits | None = None
    ) -> SandboxResult:
        """Run ``code`` under ``limits`` (the sandbox's defaults when None)."""

    def close(self) -> None:  # noqa: B027 (optional hook, nothing to release by default)
        """Release processes and resources held by the sandbox."""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build_request(code: str, data: Any, limits: SandboxLimits) -> dict[str, Any]:
    """The request frame for the runner; ``data`` must be JSON-serialisable."""
    try:
        encoded = json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise CodeExecutionError(
            f"Sandbox data is not JSON-serialisable: {exc}", error_type=type(exc).__name__
        ) from exc
    return {"code": code, "data": encoded, "limits": limits.model_dump(mode="json")}


#: Protections a sandbox can be told not to use (``disable=``), by their report names.
PROTECTIONS: tuple[str, ...] = (
    "pid_namespace",
    "ipc_namespace",
    "mount_namespace",
    "network_namespace",
    "uts_namespace",
    "user_namespace",
    "seccomp",
)


def check_disable(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple; ValueError for a name that is not one of :data:`PROTECTIONS`."""
    unknown = sorted(set(names) - set(PROTECTIONS))
    if unknown:
        raise ValueError(f"unknown sandbox protections {unknown}; known: {list(PROTECTIONS)}")
    return tuple(names)


def result_budget(limits: SandboxLimits) -> int:
    """Bytes the parent reads from a worker's result pipe before it stops reading."""
    return limits.max_output_bytes * 2 + FRAME_SLACK


def _violation(message: str, rule: str) -> SandboxViolation:
    return SandboxViolation(message, policy="sandbox", violations=[rule])


def judge(report: dict[str, Any], limits: SandboxLimits, backend: str) -> SandboxResult:
    """Turn the runner's report into a result, or raise the matching error."""
    if "server_error" in report:
        raise CodeExecutionError(
            f"Sandbox failure: {report['server_error']}", error_type="SandboxFailure"
        )
    if report.get("killed"):
        raise _violation(
            f"Code exceeded the wall-clock limit of {limits.wall_seconds:g}s", "wall_time"
        )
    if report.get("overflow"):
        raise _violation("Code wrote more than the output limit", "output_size")
    exit_code = int(report.get("exit_code", 0))
    # Only the CPU time the worker itself used makes a CPU violation: an execution
    # ended by anything else is never blamed for a limit it did not reach.
    cpu_used = float(report.get("cpu_ms", 0.0)) >= limits.cpu_seconds * 1000 * CPU_MEASURE_SLACK
    if exit_code in (-signal.SIGXCPU, -signal.SIGKILL) and cpu_used:
        raise _violation(f"Code exceeded the CPU limit of {limits.cpu_seconds:g}s", "cpu_time")
    if exit_code < 0:
        raise _violation(f"Sandboxed process was ended by signal {-exit_code}", "signal")
    if not report.get("frames_valid", False):
        raise _violation("Code tampered with the sandbox result channel", "result_channel")
    if report.get("isolation") is None:
        raise CodeExecutionError("Sandbox failed to isolate the code", error_type="SandboxFailure")
    outcome = report.get("outcome")
    if not isinstance(outcome, dict):
        raise _violation(
            f"Sandboxed process ended without a result (exit code {exit_code})", "exit"
        )
    stdout = str(outcome.get("stdout", ""))
    if "violation" in outcome:
        rule = str(outcome["violation"]).split(" ", 1)[0]
        raise _violation(f"Code hit a sandbox limit: {outcome['violation']}", rule)
    if "error_type" in outcome:
        error_type = str(outcome["error_type"])
        message = str(outcome.get("error_message", ""))
        raise CodeExecutionError(
            f"{error_type}: {message}",
            error_type=error_type,
            error_message=message,
            line=outcome.get("line"),
            stdout=stdout,
        )
    try:
        value = json.loads(str(outcome["result_json"]))
    except (KeyError, ValueError, RecursionError) as exc:
        raise _violation("Code tampered with the sandbox result channel", "result_channel") from exc
    return SandboxResult(
        result=value,
        stdout=stdout,
        duration_ms=float(report.get("duration_ms", 0.0)),
        cpu_ms=float(report.get("cpu_ms", 0.0)),
        max_rss_kb=int(report.get("max_rss_kb", 0)),
        backend=backend,
        isolation=SandboxIsolation.model_validate(report["isolation"]),
    )
