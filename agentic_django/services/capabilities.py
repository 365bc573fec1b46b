"""The public description of registered endpoints (capabilities listing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..registry import AgentEndpointDef, AgentSite


def describe_endpoint(endpoint: AgentEndpointDef) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": endpoint.name,
        "description": endpoint.description,
        "autonomy_level": endpoint.autonomy_level,
        "engine": endpoint.engine,
    }
    if endpoint.tools is not None:
        entry["tools"] = [
            {
                "name": tool.name,
                "description": tool.description,
                "requires_approval": tool.requires_approval,
            }
            for tool in endpoint.tools
        ]
    if endpoint.intent_scope is not None:
        entry["intent_scope"] = endpoint.intent_scope.model_dump()
    if endpoint.intent_schema is not None:
        entry["intent_schema"] = endpoint.intent_schema.model_json_schema()
    if endpoint.response_model is not None:
        entry["response_schema"] = endpoint.response_model.model_json_schema()
    if endpoint.tags:
        entry["tags"] = list(endpoint.tags)
    return entry


def describe_endpoints(site: AgentSite) -> list[dict[str, Any]]:
    return [describe_endpoint(endpoint) for endpoint in site]
