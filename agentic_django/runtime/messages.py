"""Conversations to and from JSON, so a paused agentic loop can be stored and resumed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentic_django.llm.base import LLMMessage, ToolCall


def serialize_tool_call(call: ToolCall) -> dict[str, Any]:
    """A :class:`ToolCall` as a JSON-ready dict."""
    data: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": dict(call.arguments)}
    if call.parse_error is not None:
        data["parse_error"] = call.parse_error
    return data


def deserialize_tool_call(data: Mapping[str, Any]) -> ToolCall:
    """The inverse of :func:`serialize_tool_call`."""
    return ToolCall(
        id=str(data["id"]),
        name=str(data["name"]),
        arguments=dict(data.get("arguments") or {}),
        parse_error=data.get("parse_error"),
    )


def serialize_messages(messages: Iterable[LLMMessage]) -> list[dict[str, Any]]:
    """Messages as JSON-ready dicts; fields left at their defaults are omitted."""
    result: list[dict[str, Any]] = []
    for message in messages:
        data: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            data["tool_calls"] = [serialize_tool_call(call) for call in message.tool_calls]
        if message.tool_call_id is not None:
            data["tool_call_id"] = message.tool_call_id
        if message.name is not None:
            data["name"] = message.name
        if message.is_error:
            data["is_error"] = True
        result.append(data)
    return result


def deserialize_messages(data: Iterable[Mapping[str, Any]]) -> list[LLMMessage]:
    """The inverse of :func:`serialize_messages`."""
    messages: list[LLMMessage] = []
    for item in data:
        calls = item.get("tool_calls")
        messages.append(
            LLMMessage(
                role=str(item["role"]),
                content=str(item.get("content", "")),
                tool_calls=[deserialize_tool_call(call) for call in calls] if calls else None,
                tool_call_id=item.get("tool_call_id"),
                name=item.get("name"),
                is_error=bool(item.get("is_error", False)),
            )
        )
    return messages
