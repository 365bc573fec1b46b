"""agentic_django: LLM agent endpoints for Django with a safety harness, durable
approvals and an ORM-queryable audit trail.

Importing this package does not import models and does not need ``django.setup()``.
"""

from .core.context import AgentContext
from .core.dependencies import Depends
from .core.exceptions import (
    AgentDisabled,
    AgenticError,
    ApprovalRequired,
    BudgetExceeded,
    CodeExecutionError,
    CodeGenerationError,
    EndpointNotFound,
    IntentParseError,
    InvalidRequest,
    PermissionDenied,
    PolicyViolation,
    ResponseValidationError,
    SandboxViolation,
    ToolError,
)
from .core.files import UploadedFile, UploadedFiles
from .core.intent import Intent, IntentAction, IntentParser, IntentScope
from .core.response import AgentResponse, ResponseFormatter
from .core.tasks import AgentTasks
from .registry import (
    AgentEndpointDef,
    AgentRouter,
    AgentSite,
    AlreadyRegistered,
    agents,
    process_intent,
)
from .streaming import AgentStream

__version__ = "0.1.0"

__all__ = [
    "AgentContext",
    "AgentDisabled",
    "AgentEndpointDef",
    "AgentResponse",
    "AgentRouter",
    "AgentSite",
    "AgentStream",
    "AgentTasks",
    "AgenticError",
    "AlreadyRegistered",
    "ApprovalRequired",
    "BudgetExceeded",
    "CodeExecutionError",
    "CodeGenerationError",
    "Depends",
    "EndpointNotFound",
    "Intent",
    "IntentAction",
    "IntentParseError",
    "IntentParser",
    "IntentScope",
    "InvalidRequest",
    "PermissionDenied",
    "PolicyViolation",
    "ResponseFormatter",
    "ResponseValidationError",
    "SandboxViolation",
    "ToolError",
    "UploadedFile",
    "UploadedFiles",
    "__version__",
    "agents",
    "process_intent",
]
