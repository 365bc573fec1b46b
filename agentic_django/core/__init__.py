"""Framework-independent building blocks: intents, responses, context, tasks, errors, DI.

Nothing in this package imports Django.
"""

from .context import AgentContext
from .dependencies import Depends, InjectionError, InjectionPlan, scan
from .exceptions import (
    AgentDisabled,
    AgenticError,
    ApprovalRequired,
    BudgetExceeded,
    CodeExecutionError,
    CodeGenerationError,
    EndpointNotFound,
    IntentParseError,
    InvalidRequest,
    PolicyViolation,
    SandboxViolation,
    ToolError,
    http_status_for,
)
from .files import UploadedFile, UploadedFiles
from .intent import Intent, IntentAction, IntentParser, IntentScope
from .response import AgentResponse, ResponseFormatter
from .tasks import AgentTasks, BackgroundTask

__all__ = [
    "AgentContext",
    "AgentDisabled",
    "AgentResponse",
    "AgentTasks",
    "AgenticError",
    "ApprovalRequired",
    "BackgroundTask",
    "BudgetExceeded",
    "CodeExecutionError",
    "CodeGenerationError",
    "Depends",
    "EndpointNotFound",
    "InjectionError",
    "InjectionPlan",
    "Intent",
    "IntentAction",
    "IntentParseError",
    "IntentParser",
    "IntentScope",
    "InvalidRequest",
    "PolicyViolation",
    "ResponseFormatter",
    "SandboxViolation",
    "ToolError",
    "UploadedFile",
    "UploadedFiles",
    "http_status_for",
    "scan",
]
