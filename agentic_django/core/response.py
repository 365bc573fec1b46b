"""The response shape every agent endpoint answers with, and its formatters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class AgentResponse:
    """What an agent request produced.

    ``status`` is one of ``completed``, ``pending_approval``, ``error``,
    ``clarification_needed``, ``policy_denied`` or ``budget_exceeded``.
    """

    result: Any
    status: str = "completed"
    generated_code: str | None = None
    reasoning: str | None = None
    confidence: float = 1.0
    execution_trace_id: str | None = None
    follow_up_suggestions: list[str] = field(default_factory=list)
    error: str | None = None
    approval_request: dict[str, Any] | None = None
    #: Machine-readable detail of an error: its code, the policy or budget that refused.
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without the fields that are ``None``."""
        return {key: value for key, value in asdict(self).items() if value is not None}


class ResponseFormatter:
    """Render an :class:`AgentResponse` as a JSON-ready dict or as plain text."""

    def format_json(self, response: AgentResponse) -> dict[str, Any]:
        return response.to_dict()

    def format_text(self, response: AgentResponse) -> str:
        lines = [f"Status: {response.status}"]
        if response.error:
            lines.append(f"Error: {response.error}")
        elif response.result is not None:
            lines.append(f"Result: {response.result}")
        if response.reasoning:
            lines.append(f"Reasoning: {response.reasoning}")
        if response.confidence < 1.0:
            lines.append(f"Confidence: {response.confidence:.2f}")
        if response.follow_up_suggestions:
            lines.append("Suggestions:")
            lines.extend(f"  - {suggestion}" for suggestion in response.follow_up_suggestions)
        if response.execution_trace_id:
            lines.append(f"Trace ID: {response.execution_trace_id}")
        return "\n".join(lines)
