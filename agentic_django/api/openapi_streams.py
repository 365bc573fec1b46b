"""OpenAPI operations of the streaming routes (served by Channels consumers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..streaming.events import EVENT_KINDS

_STREAM_CONTENT = {
    "text/event-stream": {
        "schema": {"type": "string"},
        "example": 'event: partial_result\nid: 0\ndata: {"kind":"partial_result","seq":0,…}\n\n',
    },
    "application/x-ndjson": {"schema": {"type": "string"}},
}

_TRANSPORT = {
    "name": "transport",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["sse", "ndjson"]},
    "description": "Overrides the Accept header and the endpoint's default transport.",
}


#: What a run or approval id looks like (``models.new_id`` makes 32 hex digits).
ID_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID_SCHEMA}


def stream_paths(
    site: Any,
    base_path: str,
    *,
    request_body: Callable[[Any], dict[str, Any]],
    error: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    """``<name>/stream/`` for each streaming endpoint, plus the run and approval streams."""
    events = (
        "Events, one per frame, in `seq` order: " + ", ".join(f"`{k}`" for k in EVENT_KINDS) + "."
    )
    paths: dict[str, Any] = {}
    for endpoint in site:
        if endpoint.streaming is None:
            continue
        paths[f"{base_path}/{endpoint.name}/stream/"] = {
            "post": {
                "operationId": "stream_" + endpoint.name.replace(".", "_").replace("-", "_"),
                "summary": f"Run {endpoint.name} and stream its events "
                f"({endpoint.streaming} by default).",
                "description": events + " The run id is in the `X-Agent-Run-Id` header.",
                "tags": list(endpoint.tags) or ["agents"],
                "parameters": [_TRANSPORT],
                "requestBody": request_body(endpoint),
                "responses": {
                    "200": {"description": "The event stream.", "content": _STREAM_CONTENT},
                    "400": error("Invalid request."),
                    "401": error("Authentication required."),
                    "403": error("Not permitted."),
                    "404": error("No such streaming endpoint."),
                    "413": error("Request too large."),
                },
            }
        }
    run_id = _path_id("run_id")
    paths[f"{base_path}/runs/{{run_id}}/events/"] = {
        "get": {
            "operationId": "run_events",
            "summary": "Replay a run's events after `since`, then follow it until it ends.",
            "description": events
            + " Visible to the run's owner, holders of `view_agentrun` and whoever may"
            " decide its pending approval.",
            "tags": ["streams"],
            "parameters": [
                run_id,
                {"name": "since", "in": "query", "required": False, "schema": {"type": "integer"}},
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                },
                _TRANSPORT,
            ],
            "responses": {
                "200": {"description": "The event stream.", "content": _STREAM_CONTENT},
                "400": error("`since` is not an integer, or an unknown transport."),
                "401": error("Authentication required, or an invalid token."),
                "403": error("Not permitted."),
                "404": error("No such run, or not yours to see."),
            },
        }
    }
    paths[f"{base_path}/runs/{{run_id}}/resume/"] = {
        "post": {
            "operationId": "run_resume",
            "summary": "Decide the run's pending mid-stream approval.",
            "tags": ["streams"],
            "parameters": [run_id],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "approval_id": {"type": "string"},
                                "decision": {"type": "string"},
                                "reason": {"type": "string"},
                            },
                            "required": ["decision"],
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "Decided; the waiting run carries on."},
                "400": error("Malformed JSON, or not one of the options offered."),
                "401": error("Authentication required, or an invalid token."),
                "403": error("Neither the run's owner nor an approver."),
                "404": error("No such run or pending approval."),
                "409": error("Already decided, or expired."),
            },
        }
    }
    paths[f"{base_path}/approvals/{{request_id}}/events/"] = {
        "get": {
            "operationId": "approval_events",
            "summary": "The approval request now and at every change, until it is settled.",
            "tags": ["approvals"],
            "parameters": [_path_id("request_id"), _TRANSPORT],
            "responses": {
                "200": {"description": "`approval` events.", "content": _STREAM_CONTENT},
                "400": error("An unknown transport."),
                "401": error("Authentication required, or an invalid token."),
                "403": error("Not permitted."),
                "404": error("No such request, or not yours to see."),
            },
        }
    }
    return paths
