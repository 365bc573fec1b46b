"""Which agent endpoints MCP clients see, and the JSON schemas of their tools.

An endpoint is served when it says ``mcp=True``, or says nothing and
``AGENTIC_DJANGO["MCP"]`` is true. Its tool takes the intent text, an optional
``session_id`` and, when the handler is annotated ``Intent[T]``, the typed
``params`` of ``T``; with a ``response_model`` it declares the shape of its result.
This module does not import the SDK: the schemas are plain dicts.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..conf import agentic_settings

if TYPE_CHECKING:
    from ..registry import AgentEndpointDef, AgentSite

#: Statuses of a call that answered, as opposed to one that was refused or failed.
ANSWERED = frozenset({"completed", "pending_approval", "clarification_needed"})


def is_exposed(endpoint: AgentEndpointDef) -> bool:
    """Whether MCP clients may see ``endpoint`` (its own ``mcp=``, else the setting)."""
    if endpoint.mcp is not None:
        return endpoint.mcp
    return bool(agentic_settings.MCP)


def exposed_endpoints(site: AgentSite) -> list[AgentEndpointDef]:
    """The endpoints of ``site`` served over MCP, in registration order."""
    return [endpoint for endpoint in site if is_exposed(endpoint)]


def _hoisted(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without its ``$defs``, which move to ``defs`` (references stay valid
    because they point at the root document, where ``defs`` ends up)."""
    schema = copy.deepcopy(schema)
    defs.update(schema.pop("$defs", {}))
    return schema


def input_schema(endpoint: AgentEndpointDef) -> dict[str, Any]:
    """The arguments of the endpoint's tool: ``intent``, ``session_id`` and typed ``params``."""
    defs: dict[str, Any] = {}
    properties: dict[str, Any] = {
        "intent": {
            "type": "string",
            "minLength": 1,
            "maxLength": int(agentic_settings.MAX_INTENT_CHARS),
            "description": "What you want from this agent, in plain language.",
        },
        "session_id": {
            "type": "string",
            "description": "Continue a conversation: the session_id of an earlier result.",
        },
    }
    required = ["intent"]
    model = endpoint.intent_schema
    if model is not None:
        params = _hoisted(model.model_json_schema(), defs)
        params["description"] = (
            "The request's typed parameters; when given, they are used as they are "
            "instead of being read from the intent text."
        )
        properties["params"] = params
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def output_schema(endpoint: AgentEndpointDef) -> dict[str, Any] | None:
    """The structured result of a call, when the endpoint has a ``response_model``.

    ``result`` is null while an action waits for approval, so the schema allows it.
    """
    model = endpoint.response_model
    if model is None:
        return None
    defs: dict[str, Any] = {}
    result = _hoisted(model.model_json_schema(), defs)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "result": {"anyOf": [result, {"type": "null"}]},
            "session_id": {"type": "string"},
            "trace_id": {"type": "string"},
            "approval_request": {"type": ["object", "null"]},
        },
        "required": ["status", "result"],
    }
    if defs:
        schema["$defs"] = defs
    return schema


def tool_description(endpoint: AgentEndpointDef) -> str:
    text = endpoint.description or f"The {endpoint.name} agent."
    if endpoint.intent_scope is not None and endpoint.intent_scope.allowed_intents:
        allowed = ", ".join(endpoint.intent_scope.allowed_intents)
        text = f"{text} (handles: {allowed})"
    return text
