"""The safety harness: policies, static analysis, sandboxes, monitors and validators.

Pure Python: nothing here imports Django.
"""

from __future__ import annotations

from agentic_django.harness.approval_rules import (
    DEFAULT_RULE,
    ApprovalNotifier,
    ApprovalRule,
    ApprovalWorkflow,
    parse_approver,
)
from agentic_django.harness.monitors import (
    ExecutionMonitor,
    MonitorResult,
    OutputSizeMonitor,
    WallTimeMonitor,
)
from agentic_django.harness.policies import (
    AutonomyLevel,
    AutonomyPolicy,
    AutonomySignal,
    BudgetPolicy,
    BudgetScope,
    CodePolicy,
    DataPolicy,
    EscalationRule,
    PIIPolicy,
    Policy,
    PolicyEvaluation,
    PolicyEvaluator,
    PolicyResult,
    PromptInjectionPolicy,
    ResourcePolicy,
    RuntimePolicy,
    TokenPrice,
    estimate_cost,
)
from agentic_django.harness.sandbox import (
    ForkServerSandbox,
    Sandbox,
    SandboxIsolation,
    SandboxLimits,
    SandboxResult,
    SubprocessSandbox,
)
from agentic_django.harness.static_analysis import (
    DEFAULT_ALLOWED_MODULES,
    StaticAnalysisResult,
    Violation,
    analyze,
)
from agentic_django.harness.validators import (
    JSONOutputValidator,
    ReadOnlyValidator,
    ValidationResult,
)

__all__ = [
    "DEFAULT_ALLOWED_MODULES",
    "DEFAULT_RULE",
    "ApprovalNotifier",
    "ApprovalRule",
    "ApprovalWorkflow",
    "AutonomyLevel",
    "AutonomyPolicy",
    "AutonomySignal",
    "BudgetPolicy",
    "BudgetScope",
    "CodePolicy",
    "DataPolicy",
    "EscalationRule",
    "ExecutionMonitor",
    "ForkServerSandbox",
    "JSONOutputValidator",
    "MonitorResult",
    "OutputSizeMonitor",
    "PIIPolicy",
    "Policy",
    "PolicyEvaluation",
    "PolicyEvaluator",
    "PolicyResult",
    "PromptInjectionPolicy",
    "ReadOnlyValidator",
    "ResourcePolicy",
    "RuntimePolicy",
    "Sandbox",
    "SandboxIsolation",
    "SandboxLimits",
    "SandboxResult",
    "StaticAnalysisResult",
    "SubprocessSandbox",
    "TokenPrice",
    "ValidationResult",
    "Violation",
    "WallTimeMonitor",
    "analyze",
    "estimate_cost",
    "parse_approver",
]
