"""The MCP server of the agent endpoints: ``tools/list`` and ``tools/call`` over the pipeline.

A call runs exactly what ``POST <name>/`` runs (the endpoint's DRF checks, then
``pipeline.process_intent``), leaving one trace with ``transport="mcp"``. What the
client gets back is a tool result: the agent's answer as JSON text and as
structured content; refusals and failures come back with ``isError`` and the
reason. A streaming endpoint reports its events as progress notifications; an
action waiting for approval returns at once with the approval request's id and
URL, to be followed over the agent API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import mcp_types as types
from django.http import HttpResponseBase
from django.urls import reverse
from mcp.server import Server, ServerRequestContext
from pydantic import BaseModel, ValidationError
from rest_framework import exceptions

from .. import __version__
from ..conf import agentic_settings
from ..core.exceptions import AgentDisabled
from ..registry import AgentEndpointDef, AgentSite
from ..runtime.tools import describe_validation_error
from ..services import pipeline, runs
from ..services.run_follow import follow
from ..services.traces import current_transport
from .authorization import EndpointCheck, visible_endpoints
from .exposure import ANSWERED, exposed_endpoints, input_schema, output_schema, tool_description

#: Where the ASGI application leaves the admitted user in the request's scope.
SCOPE_USER = "agentic_django.mcp.user"

#: Stream event kinds worth a progress notification (the rest is bookkeeping).
PROGRESS_KINDS = frozenset(
    {
        "thought",
        "partial_result",
        "tool_call_started",
        "tool_call_completed",
        "workflow_step_start",
        "workflow_step_complete",
    }
)


class CallRefused(Exception):
    """A call stopped before the pipeline ran: the message is what the client reads."""


def build_server(site: AgentSite) -> Server[Any]:
    """An MCP server offering the endpoints of ``site`` that are served over MCP."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        visible = await visible_endpoints(site, exposed_endpoints(site), _http_scope(ctx))
        return types.ListToolsResult(tools=[_tool(endpoint) for endpoint in visible])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            return await _call(site, ctx, params.name, dict(params.arguments or {}))
        except CallRefused as exc:
            return _error_result(str(exc))

    def tool_input_schema(name: str) -> dict[str, Any] | None:
        # The SDK validates a call's Mcp-Param headers against the tool's schema; without
        # this it would run a whole tools/list (every endpoint's DRF checks) per call.
        endpoint = next((e for e in exposed_endpoints(site) if e.name == name), None)
        return input_schema(endpoint) if endpoint is not None else None

    return Server(
        "agentic_django",
        version=__version__,
        instructions="Agent endpoints of this Django application; each tool is one agent.",
        get_tool_input_schema=tool_input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _tool(endpoint: AgentEndpointDef) -> types.Tool:
    return types.Tool(
        name=endpoint.name,
        description=tool_description(endpoint),
        input_schema=input_schema(endpoint),
        output_schema=output_schema(endpoint),
    )


def _http_scope(ctx: ServerRequestContext[Any]) -> dict[str, Any]:
    request = ctx.request
    if request is None or SCOPE_USER not in getattr(request, "scope", {}):
        # Only the ASGI application of this package serves this server.
        raise CallRefused("This MCP server is only served over HTTP.")
    return dict(request.scope)


async def _call(
    site: AgentSite, ctx: ServerRequestContext[Any], name: str, arguments: dict[str, Any]
) -> types.CallToolResult:
    scope = _http_scope(ctx)
    endpoint = next((e for e in exposed_endpoints(site) if e.name == name), None)
    if endpoint is None:
        raise CallRefused(f"Unknown tool {name!r}.")
    check = EndpointCheck(site, endpoint, scope)
    try:
        request = await check.authorize()
    except exceptions.APIException as exc:
        raise CallRefused(f"{type(exc).__name__}: {exc.detail}") from exc
    intent, session_id, params = _arguments(endpoint, arguments)
    call = {"user": request.user, "session_id": session_id, "request": request, "params": params}
    token = current_transport.set("mcp")
    try:
        if endpoint.streaming is not None:
            return await _streamed(site, endpoint, intent, call, ctx, request)
        outcome = await pipeline.process_intent(site, endpoint, intent, **call)
    finally:
        current_transport.reset(token)
    if isinstance(outcome.response, HttpResponseBase):
        body: dict[str, Any] = {
            "status": "completed",
            "result": {"http_response": {"status": outcome.response.status_code}},
            "session_id": outcome.session_id,
        }
    else:
        body = outcome.body()
    body["trace_id"] = outcome.trace_id
    return _result(body, request)


def _arguments(
    endpoint: AgentEndpointDef, arguments: dict[str, Any]
) -> tuple[str, str | None, BaseModel | None]:
    """The intent, session id and typed params of a call, validated like the HTTP API's."""
    unknown = sorted(set(arguments) - {"intent", "session_id", "params"})
    if unknown:
        raise CallRefused(f"Unknown arguments: {', '.join(unknown)}.")
    intent = arguments.get("intent")
    if not isinstance(intent, str) or not intent.strip():
        raise CallRefused("intent: a non-empty string is required.")
    if len(intent) > agentic_settings.MAX_INTENT_CHARS:
        raise CallRefused(
            f"intent: at most {agentic_settings.MAX_INTENT_CHARS} characters are accepted."
        )
    session_id = arguments.get("session_id") or None
    if session_id is not None and not isinstance(session_id, str):
        raise CallRefused("session_id: a string is expected.")
    raw_params = arguments.get("params")
    params = None
    if raw_params is not None:
        schema = endpoint.intent_schema
        if schema is None:
            raise CallRefused(f"params: {endpoint.name!r} does not take typed parameters.")
        try:
            params = schema.model_validate(raw_params)
        except ValidationError as exc:
            raise CallRefused(f"Invalid params: {describe_validation_error(exc)}") from exc
    return intent, session_id, params


async def _streamed(
    site: AgentSite,
    endpoint: AgentEndpointDef,
    intent: str,
    call: dict[str, Any],
    ctx: ServerRequestContext[Any],
    request: Any,
) -> types.CallToolResult:
    """Run a streaming endpoint, its events reported as progress, until it ends or waits."""
    try:
        run = await runs.start_run(site, endpoint, intent, **call)
    except AgentDisabled as exc:
        return _result(
            {"status": "agent_disabled", "result": None, "error": str(exc) or exc.code}, request
        )
    done = 0
    async for event in follow(run.pk, run.run_id):
        if event is None:
            continue
        seq, kind, payload = event
        data = json.loads(payload)
        if kind in PROGRESS_KINDS:
            done += 1
            await ctx.session.report_progress(done, None, _progress_message(kind, data))
        elif kind == "approval_requested":
            # The run goes on waiting for a person; the client follows it over the API.
            body = {
                "status": "pending_approval",
                "result": None,
                "run_id": run.run_id,
                "approval_request": {
                    "id": data.get("approval_id"),
                    "prompt": data.get("prompt"),
                    "options": data.get("options"),
                    "url": reverse(
                        "agentic_django:approval-detail", args=[data.get("approval_id")]
                    ),
                    "events_url": f"{_prefix(request)}runs/{run.run_id}/events/?since={seq}",
                },
            }
            return _result(body, request)
        elif kind == "final":
            body = {
                "status": data.get("status") or "completed",
                "result": data.get("result"),
                "session_id": data.get("session_id"),
                "trace_id": data.get("trace_id"),
                "run_id": run.run_id,
            }
            return _result(
                {k: v for k, v in body.items() if v is not None or k == "result"}, request
            )
        elif kind == "error":
            body = {
                "status": data.get("code") or "error",
                "result": None,
                "error": data.get("message") or "The run failed.",
                "trace_id": data.get("trace_id"),
                "run_id": run.run_id,
            }
            return _result(body, request)
    await asyncio.shield(runs.wait_local(run.run_id))
    return _error_result(f"The run {run.run_id} ended without an answer.")


def _prefix(request: Any) -> str:
    """The agent API's URL prefix (where ``mcp/`` is mounted), from the request path."""
    path = request.path
    return path[: path.rfind("mcp")] if "mcp" in path else "/"


def _progress_message(kind: str, data: dict[str, Any]) -> str:
    if kind == "partial_result":
        return str(data.get("content") or data.get("text") or "")[:500]
    if kind == "thought":
        return str(data.get("text") or "")[:500]
    if kind in ("tool_call_started", "tool_call_completed"):
        return f"{kind.replace('_', ' ')}: {data.get('tool', '')}"
    return f"{kind.replace('_', ' ')}: {data.get('step') or data.get('name') or ''}".strip()


def _result(body: dict[str, Any], request: Any) -> types.CallToolResult:
    approval = body.get("approval_request")
    if isinstance(approval, dict) and isinstance(approval.get("url"), str):
        approval["url"] = request.build_absolute_uri(approval["url"])
    if isinstance(approval, dict) and isinstance(approval.get("events_url"), str):
        approval["events_url"] = request.build_absolute_uri(approval["events_url"])
    status = str(body.get("status") or "completed")
    text = json.dumps(body, ensure_ascii=False, default=str)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=body,
        is_error=status not in ANSWERED,
    )


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )
