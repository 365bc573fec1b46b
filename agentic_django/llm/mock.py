"""Backends that never leave the process, for tests and demos.

:class:`MockBackend` replays queued replies; :class:`FunctionBackend` computes each
reply with a Python function of the prompt. Both record every prompt they get.
"""

from __future__ import annotations

import inspect
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from agentic_django.core.exceptions import CodeGenerationError

from .base import LLMChunk, LLMPrompt, LLMResponse, LLMUsage, ToolCall, neutral_tool

#: Prompts kept for inspection; older ones are dropped so a long-running server
#: using a stand-in backend (a demo) does not grow without bound.
MAX_KEPT_PROMPTS = 1000


class _RecordingBackend:
    """Prompt recording and word-by-word streaming shared by the test backends."""

    provider = "mock"
    #: The final chunk of ``generate_stream`` carries tool calls and usage.
    streams_tool_calls = True

    def __init__(self, model: str) -> None:
        self._model = model
        self._prompts: deque[LLMPrompt] = deque(maxlen=MAX_KEPT_PROMPTS)
        self._calls = 0

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def call_count(self) -> int:
        """How many prompts this backend has answered (or been asked to answer)."""
        return self._calls

    @property
    def prompts(self) -> list[LLMPrompt]:
        """The prompts received (the last ``MAX_KEPT_PROMPTS``), oldest first."""
        return list(self._prompts)

    def _keep(self, prompt: LLMPrompt) -> None:
        self._prompts.append(prompt)
        self._calls += 1

    async def generate(self, prompt: LLMPrompt) -> LLMResponse:
        self._keep(prompt)
        return self._reply(prompt)

    def _reply(self, prompt: LLMPrompt) -> LLMResponse:
        raise NotImplementedError

    async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
        """The reply of :meth:`generate`, a word at a time; the last chunk is final."""
        response = await self.generate(prompt)
        words = response.content.split(" ") if response.content else []
        for word in words[:-1]:
            yield LLMChunk(content=word + " ")
        yield LLMChunk(
            content=words[-1] if words else "",
            is_final=True,
            tool_calls=list(response.tool_calls),
            usage=response.usage,
            finish_reason=response.finish_reason,
        )


class MockBackend(_RecordingBackend):
    """Replays queued replies in order.

    For each prompt, the first that applies wins:

    1. the prompt offers ``tools`` and a tool-call reply is queued → that reply;
    2. ``tool_choice="required"`` → a call to the first tool with no arguments;
    3. the prompt has a ``response_schema`` → the next queued structured reply as
       JSON, or a reply synthesised from the schema when none is queued;
    4. otherwise the next queued text reply; :class:`CodeGenerationError` when the
       queue is empty.
    """

    def __init__(
        self,
        responses: list[str] | None = None,
        *,
        structured_responses: list[dict[str, Any]] | None = None,
        tool_call_responses: list[list[ToolCall]] | None = None,
        model: str = "mock",
    ) -> None:
        super().__init__(model)
        self._responses = list(responses or [])
        self._structured = list(structured_responses or [])
        self._tool_calls = [list(bundle) for bundle in tool_call_responses or []]

    def add_response(self, response: str) -> None:
        """Queue a text reply."""
        self._responses.append(response)

    def add_structured_response(self, response: dict[str, Any]) -> None:
        """Queue a reply for the next prompt that carries a ``response_schema``."""
        self._structured.append(response)

    def add_tool_call_response(self, calls: ToolCall | list[ToolCall]) -> None:
        """Queue the tool call(s) the model makes on the next prompt offering tools."""
        self._tool_calls.append([calls] if isinstance(calls, ToolCall) else list(calls))

    def _reply(self, prompt: LLMPrompt) -> LLMResponse:
        if prompt.tools and self._tool_calls:
            return _tool_reply(prompt, self._tool_calls.pop(0), self._model)
        if prompt.tools and prompt.tool_choice == "required":
            first = ToolCall(id="mock_required_0", name=neutral_tool(prompt.tools[0])["name"])
            return _tool_reply(prompt, [first], self._model)
        if prompt.response_schema is not None:
            payload = (
                self._structured.pop(0)
                if self._structured
                else synthesise_from_schema(prompt.response_schema)
            )
            return _text_reply(prompt, json.dumps(payload), self._model, finish_reason="stop")
        if not self._responses:
            raise CodeGenerationError("MockBackend has no queued response left for this prompt")
        return _text_reply(prompt, self._responses.pop(0), self._model)


#: What a :class:`FunctionBackend` function may return.
FunctionReply = str | dict[str, Any] | ToolCall | list[ToolCall] | LLMResponse


class FunctionBackend(_RecordingBackend):
    """Computes each reply with ``fn(prompt)``, a plain or an async function.

    ``fn`` returns text, a dict (sent back as JSON, for structured prompts), one
    :class:`ToolCall` or a list of them, or a complete :class:`LLMResponse`.
    """

    def __init__(
        self,
        fn: Callable[[LLMPrompt], FunctionReply | Awaitable[FunctionReply]],
        *,
        model: str = "mock",
    ) -> None:
        super().__init__(model)
        self._fn = fn

    async def generate(self, prompt: LLMPrompt) -> LLMResponse:
        self._keep(prompt)
        reply = self._fn(prompt)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, LLMResponse):
            return reply
        if isinstance(reply, ToolCall):
            return _tool_reply(prompt, [reply], self._model)
        if isinstance(reply, list):
            return _tool_reply(prompt, reply, self._model)
        if isinstance(reply, dict):
            return _text_reply(prompt, json.dumps(reply), self._model, finish_reason="stop")
        return _text_reply(prompt, str(reply), self._model)


def _text_reply(
    prompt: LLMPrompt, content: str, model: str, *, finish_reason: str | None = "stop"
) -> LLMResponse:
    return LLMResponse(
        content=content,
        usage=LLMUsage(_estimate_tokens(prompt), len(content) // 4),
        model=model,
        finish_reason=finish_reason,
    )


def _tool_reply(prompt: LLMPrompt, calls: list[ToolCall], model: str) -> LLMResponse:
    return LLMResponse(
        content="",
        usage=LLMUsage(
            _estimate_tokens(prompt), sum(len(json.dumps(c.arguments)) for c in calls) // 4
        ),
        model=model,
        tool_calls=calls,
        finish_reason="tool_calls",
    )


def _estimate_tokens(prompt: LLMPrompt) -> int:
    """Roughly four characters a token, so budgets and costs see plausible numbers."""
    return (len(prompt.system) + sum(len(m.content) for m in prompt.messages)) // 4


def synthesise_from_schema(schema: dict[str, Any], *, root: dict[str, Any] | None = None) -> Any:
    """A minimal value that satisfies ``schema``: its required fields, filled simply.

    Defaults, ``const`` and the first ``enum`` member are used where present; other
    values are the empty value of their type. ``$ref`` into ``$defs`` is followed.
    """
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, dict) else {}
        return synthesise_from_schema(target, root=root)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return synthesise_from_schema(options[0], root=root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {
            name: synthesise_from_schema(properties.get(name, {}), root=root)
            for name in schema.get("required", [])
        }
    if kind == "array":
        minimum = int(schema.get("minItems", 0))
        return [synthesise_from_schema(schema.get("items", {}), root=root)] * minimum
    return {"string": "", "integer": 0, "number": 0.0, "boolean": False}.get(str(kind))
