"""Sandboxes that run generated code in isolated, resource-limited processes."""

from __future__ import annotations

from agentic_django.harness.sandbox.base import (
    Sandbox,
    SandboxIsolation,
    SandboxLimits,
    SandboxResult,
)
from agentic_django.harness.sandbox.forkserver import ForkServerSandbox
from agentic_django.harness.sandbox.subprocess import SubprocessSandbox

__all__ = [
    "ForkServerSandbox",
    "Sandbox",
    "SandboxIsolation",
    "SandboxLimits",
    "SandboxResult",
    "SubprocessSandbox",
]
