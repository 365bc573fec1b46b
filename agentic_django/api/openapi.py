"""OpenAPI 3.1 document of the agent endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..conf import agentic_settings
from .openapi_streams import stream_paths

if TYPE_CHECKING:
    from ..registry import AgentSite

REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string"},
        "error": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object"},
    },
    "required": ["status", "error"],
}


def _response_schema(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "result": result,
            "status": {
                "type": "string",
                "enum": [
                    "completed",
                    "pending_approval",
                    "error",
                    "clarification_needed",
                    "policy_denied",
                    "budget_exceeded",
                ],
            },
            "generated_code": {"type": "string"},
            "reasoning": {"type": "string"},
            "confidence": {"type": "number"},
            "execution_trace_id": {"type": "string"},
            "session_id": {"type": "string"},
            "follow_up_suggestions": {"type": "array", "items": {"type": "string"}},
            "error": {"type": "string"},
            "approval_request": {"type": "object"},
            "details": {"type": "object"},
        },
        "required": ["status", "session_id", "execution_trace_id"],
    }


APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "kind": {"type": "string", "enum": ["code", "tool_call", "stream", "workflow"]},
        "status": {
            "type": "string",
            "enum": [
                "pending",
                "approved",
                "rejected",
                "expired",
                "executing",
                "executed",
                "failed",
            ],
        },
        "endpoint": {"type": "string"},
        "summary": {"type": "string"},
        "rule": {"type": "string"},
        "approvers": {"type": "array", "items": {"type": "string"}},
        "requested_by": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
        "decided_by": {"type": ["string", "null"]},
        "reason": {"type": "string"},
        "executed_at": {"type": ["string", "null"], "format": "date-time"},
        "result": {},
        "error": {"type": "string"},
        "attempts": {"type": "integer"},
        "action": {"type": "object"},
    },
    "required": ["id", "kind", "status", "endpoint", "expires_at"],
}


def _approval_paths(base_path: str) -> dict[str, Any]:
    """The approvals API: list, read, decide."""
    approval = {"$ref": REF.format(model="ApprovalRequest")}
    request_id = {
        "name": "request_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    return {
        f"{base_path}/approvals/": {
            "get": {
                "operationId": "approvals_list",
                "summary": "Approval requests you made or may decide.",
                "tags": ["approvals"],
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in (
                        ("status", {"type": "string"}),
                        ("endpoint", {"type": "string"}),
                        # The maximum is ``approvals.MAX_OFFSET`` (not imported: that module
                        # needs the models, this one must not).
                        ("offset", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}),
                    )
                ],
                "responses": {
                    "200": {
                        "description": "A page of requests.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "results": {"type": "array", "items": approval},
                                        "next_offset": {"type": ["integer", "null"]},
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("Unknown status, or an offset out of range."),
                    "401": _error("Authentication required."),
                },
            }
        },
        f"{base_path}/approvals/{{request_id}}/": {
            "get": {
                "operationId": "approvals_read",
                "summary": "One approval request: status, result, the action under review.",
                "tags": ["approvals"],
                "parameters": [request_id],
                "responses": {
                    "200": {
                        "description": "The request.",
                        "content": {"application/json": {"schema": approval}},
                    },
                    "404": _error("No such request, or not yours to see."),
                },
            }
        },
        f"{base_path}/approvals/{{request_id}}/decision/": {
            "post": {
                "operationId": "approvals_decide",
                "summary": "Approve or reject a pending request.",
                "tags": ["approvals"],
                "parameters": [request_id],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "decision": {"type": "string", "enum": ["approve", "reject"]},
                                    "reason": {"type": "string"},
                                },
                                "required": ["decision"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The request after the decision.",
                        "content": {"application/json": {"schema": approval}},
                    },
                    "400": _error("Invalid JSON, or a decision other than approve/reject."),
                    "403": _error("You may not decide this request."),
                    "404": _error("No such request, or not yours to see."),
                    "409": _error("Expired, or already decided the other way."),
                },
            }
        },
    }


def _register(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """Add ``model`` (and its nested models) to ``components``; return a ``$ref`` to it."""
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _request_body(params: dict[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "intent": {
            "type": "string",
            "minLength": 1,
            "maxLength": agentic_settings.MAX_INTENT_CHARS,
            "description": "The request in natural language.",
        },
        "session_id": {
            "type": ["string", "null"],
            "description": "Continue one of your sessions; unknown ids start a new one.",
        },
    }
    if params is not None:
        properties["params"] = {
            **params,
            "description": "The typed payload; when omitted it is extracted from the intent.",
        }
    schema = {"type": "object", "properties": properties, "required": ["intent"]}
    multipart = {
        "type": "object",
        "properties": {
            **{k: v for k, v in properties.items() if k != "params"},
            "file": {"type": "string", "format": "binary"},
        },
        "required": ["intent"],
    }
    return {
        "required": True,
        "content": {
            "application/json": {"schema": schema},
            "multipart/form-data": {"schema": multipart},
        },
    }


def _json_only(body: dict[str, Any]) -> dict[str, Any]:
    """Streams take JSON only (no uploads)."""
    return {**body, "content": {"application/json": body["content"]["application/json"]}}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="AgentError")}}},
    }


def build_openapi_document(site: AgentSite, *, base_path: str = "/agents") -> dict[str, Any]:
    """Describe every endpoint of ``site`` as a POST operation under ``base_path``."""
    components: dict[str, Any] = {"AgentError": ERROR_SCHEMA, "ApprovalRequest": APPROVAL_SCHEMA}
    paths: dict[str, Any] = {}
    for endpoint in site:
        result: dict[str, Any] = {}
        if endpoint.response_model is not None:
            result = _register(endpoint.response_model, components)
        params = _register(endpoint.intent_schema, components) if endpoint.intent_schema else None
        description = [f"Autonomy level: `{endpoint.autonomy_level}`."]
        if endpoint.intent_scope is not None:
            description.append(
                f"Allowed intents: `{', '.join(endpoint.intent_scope.allowed_intents)}`; "
                f"denied: `{', '.join(endpoint.intent_scope.denied_intents) or '-'}`."
            )
        paths[f"{base_path}/{endpoint.name}/"] = {
            "post": {
                "operationId": "agent_" + endpoint.name.replace(".", "_").replace("-", "_"),
                "summary": endpoint.description or f"Agent endpoint {endpoint.name}",
                "description": " ".join(description),
                "tags": list(endpoint.tags) or ["agents"],
                "requestBody": _request_body(params),
                "responses": {
                    "200": {
                        "description": "The agent's response.",
                        "content": {"application/json": {"schema": _response_schema(result)}},
                    },
                    "202": {
                        "description": "The action waits for a human approval.",
                        "content": {"application/json": {"schema": _response_schema({})}},
                    },
                    "400": _error("Invalid request (JSON, intent, field types)."),
                    "401": _error("Authentication required."),
                    "402": _error("A cost budget would be exceeded."),
                    "403": _error("Not permitted, or denied by a policy or the intent scope."),
                    "404": _error("No such endpoint."),
                    "413": _error("Upload too large."),
                    "415": _error("Unsupported content type."),
                    "500": _error("The agent failed."),
                    "503": _error("The agent is disabled."),
                },
            }
        }
    paths[f"{base_path}/"] = {
        "get": {
            "operationId": "agent_capabilities",
            "summary": "List the agent endpoints and what they accept.",
            "tags": ["system"],
            "responses": {"200": {"description": "Capabilities."}},
        }
    }
    paths[f"{base_path}/health/"] = {
        "get": {
            "operationId": "agent_health",
            "summary": "Health of the agent service.",
            "tags": ["system"],
            "responses": {
                "200": {"description": "Healthy."},
                "503": {"description": "A service agents depend on is down."},
            },
        }
    }
    paths.update(_approval_paths(base_path))

    def stream_body(endpoint: Any) -> dict[str, Any]:
        schema = endpoint.intent_schema
        return _json_only(_request_body(_register(schema, components) if schema else None))

    paths.update(stream_paths(site, base_path, request_body=stream_body, error=_error))
    return {
        "openapi": "3.1.0",
        "info": {"title": agentic_settings.API_TITLE, "version": agentic_settings.API_VERSION},
        "paths": paths,
        "components": {"schemas": components},
    }
