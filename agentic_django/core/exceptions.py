"""The exception hierarchy of agentic_django and the HTTP status each maps to.

Every error the framework raises derives from :class:`AgenticError`. The HTTP
status of an exception is resolved along its class hierarchy (see
:func:`http_status_for`), so a user's subclass of ``PolicyViolation`` answers 403
like its parent instead of falling through to a generic 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AgenticError(Exception):
    """Base class for every error raised by agentic_django."""

    #: Machine-readable error code put in JSON error bodies.
    code: str = "agentic_error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(AgenticError):
    """The request itself is malformed (bad JSON, missing intent, wrong field type…)."""

    code = "invalid_request"


class IntentParseError(InvalidRequest):
    """The raw intent could not be turned into an :class:`~agentic_django.core.intent.Intent`."""

    code = "intent_parse_error"


class EndpointNotFound(AgenticError):
    """No agent endpoint is registered under the requested name."""

    code = "endpoint_not_found"


class SessionError(AgenticError):
    """A session could not be loaded or stored."""

    code = "session_error"


class AuthenticationError(AgenticError):
    """The caller could not be authenticated."""

    code = "authentication_failed"


class PermissionDenied(AgenticError):
    """The caller is authenticated but not allowed to do this."""

    code = "permission_denied"


class PolicyViolation(AgenticError):
    """A policy (or the endpoint's intent scope) refused the request.

    ``policy`` names the policy that refused; ``violations`` lists what it found.
    """

    code = "policy_denied"

    def __init__(
        self,
        message: str = "",
        *,
        policy: str = "",
        violations: Sequence[str] = (),
        **details: Any,
    ) -> None:
        super().__init__(message or f"Denied by policy {policy!r}", **details)
        self.policy = policy
        self.violations = list(violations) or ([message] if message else [])


class SandboxViolation(PolicyViolation):
    """Generated code hit a sandbox limit or attempted a forbidden operation."""

    code = "sandbox_violation"


class BudgetExceeded(AgenticError):
    """An LLM call would exceed one of the configured cost budgets."""

    code = "budget_exceeded"

    def __init__(
        self,
        message: str = "",
        *,
        scope: str = "",
        limit_usd: float = 0.0,
        observed_usd: float = 0.0,
        **details: Any,
    ) -> None:
        super().__init__(message or f"Budget exceeded for scope {scope!r}", **details)
        self.scope = scope
        self.limit_usd = limit_usd
        self.observed_usd = observed_usd


class ApprovalRequired(AgenticError):
    """Execution stopped because a human has to approve the action first."""

    code = "pending_approval"

    def __init__(
        self,
        message: str = "",
        *,
        request_id: str | None = None,
        approvers: Sequence[str] = (),
        **details: Any,
    ) -> None:
        super().__init__(message or "This action requires approval", **details)
        self.request_id = request_id
        self.approvers = list(approvers)


class AgentDisabled(AgenticError):
    """The agent has been switched off by an operator."""

    code = "agent_disabled"


class CodeGenerationError(AgenticError):
    """The LLM could not produce what was asked (provider error, unusable reply)."""

    code = "code_generation_error"


class LLMConfigurationError(CodeGenerationError):
    """An LLM backend is misconfigured: missing SDK extra, missing API key, unknown alias."""

    code = "llm_configuration_error"


class LLMProviderError(CodeGenerationError):
    """The LLM provider answered with an error that retrying will not fix."""

    code = "llm_provider_error"

    def __init__(
        self,
        message: str = "",
        *,
        provider: str = "",
        status_code: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, **details)
        self.provider = provider
        self.status_code = status_code


class LLMNetworkBlocked(LLMConfigurationError):
    """A real provider call was attempted while real LLM calls are forbidden (tests)."""

    code = "llm_network_blocked"


class CodeExecutionError(AgenticError):
    """Generated code raised an exception while running in the sandbox."""

    code = "code_execution_error"


class ToolError(AgenticError):
    """A tool call failed (bad arguments, unknown tool, the tool raised)."""

    code = "tool_error"


class ResponseValidationError(AgenticError):
    """A handler's return value does not match the endpoint's ``response_model``."""

    code = "response_validation_error"


class WorkflowError(AgenticError):
    """A workflow is misdefined or a step failed beyond its retries."""

    code = "workflow_error"


class ApprovalStateError(AgenticError):
    """An approval decision conflicts with the request's current state."""

    code = "approval_conflict"


#: Status per exception class. Lookups walk the MRO, so subclasses inherit.
HTTP_STATUS: dict[type[BaseException], int] = {
    AgenticError: 500,
    InvalidRequest: 400,
    EndpointNotFound: 404,
    SessionError: 400,
    AuthenticationError: 401,
    PermissionDenied: 403,
    PolicyViolation: 403,
    BudgetExceeded: 402,
    ApprovalRequired: 202,
    AgentDisabled: 503,
    CodeGenerationError: 502,
    LLMConfigurationError: 500,
    CodeExecutionError: 500,
    ToolError: 500,
    ResponseValidationError: 500,
    WorkflowError: 500,
    ApprovalStateError: 409,
}


def http_status_for(exc: BaseException | type[BaseException]) -> int:
    """Return the HTTP status for ``exc``, resolved along its class hierarchy.

    Exceptions outside the hierarchy answer 500.
    """
    cls = exc if isinstance(exc, type) else type(exc)
    for klass in cls.__mro__:
        status = HTTP_STATUS.get(klass)
        if status is not None:
            return status
    return 500
