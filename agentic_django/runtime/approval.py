"""Pausing the agentic loop before a tool call that a human must approve.

The loop raises :class:`ToolApprovalRequired` carrying a :class:`LoopCheckpoint`:
everything needed to resume the conversation later, in another process, as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentic_django.core.exceptions import ApprovalRequired
from agentic_django.llm.base import LLMMessage, ToolCall

from .messages import (
    deserialize_messages,
    deserialize_tool_call,
    serialize_messages,
    serialize_tool_call,
)


@dataclass(frozen=True, slots=True)
class LoopCheckpoint:
    """A loop stopped before ``tool_call``, at ``iteration``, with the conversation so far.

    ``messages`` ends with the assistant turn that requested ``tool_call`` (plus the
    results of any calls of that turn already run).
    """

    system: str
    messages: list[LLMMessage]
    tool_call: ToolCall
    iteration: int
    temperature: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as JSON-ready data."""
        return {
            "system": self.system,
            "messages": serialize_messages(self.messages),
            "tool_call": serialize_tool_call(self.tool_call),
            "iteration": self.iteration,
            "temperature": self.temperature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoopCheckpoint:
        """The inverse of :meth:`to_json`."""
        return cls(
            system=str(data["system"]),
            messages=deserialize_messages(data["messages"]),
            tool_call=deserialize_tool_call(data["tool_call"]),
            iteration=int(data["iteration"]),
            temperature=data.get("temperature"),
        )


class ToolApprovalRequired(ApprovalRequired):
    """The model asked for a tool marked ``requires_approval``; the loop stopped first.

    Store :attr:`checkpoint` (``checkpoint.to_json()``) and pass it to
    :func:`~agentic_django.runtime.loop.resume_agentic_loop` once a human decides.
    """

    def __init__(self, checkpoint: LoopCheckpoint) -> None:
        call = checkpoint.tool_call
        super().__init__(
            f"Tool {call.name!r} requires approval before it runs",
            tool=call.name,
            arguments=dict(call.arguments),
            tool_call_id=call.id,
        )
        self.checkpoint = checkpoint

    @property
    def tool_name(self) -> str:
        return self.checkpoint.tool_call.name

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(self.checkpoint.tool_call.arguments)

    @property
    def tool_call_id(self) -> str:
        return self.checkpoint.tool_call.id

    @property
    def messages(self) -> list[LLMMessage]:
        return list(self.checkpoint.messages)
