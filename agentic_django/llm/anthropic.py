"""Claude models through the official ``anthropic`` async SDK.

Structured output is forced tool use: the response schema becomes the input schema
of a synthetic tool the model must call, and that call's input is returned as the
JSON ``content``. The Messages API of current SDKs takes no sampling parameters,
so ``LLMPrompt.temperature`` is not sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agentic_django.core.exceptions import LLMProviderError

from .base import (
    LLMChunk,
    LLMMessage,
    LLMPrompt,
    LLMResponse,
    LLMUsage,
    ToolCall,
    neutral_tool,
    resolve_tool_choice,
    schema_name,
    system_text,
    tool_parameters,
)
from .provider import ProviderBackend, is_transient_status
from .retry import RetryConfig
from .sdk import import_sdk, resolve_api_key

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class AnthropicBackend(ProviderBackend):
    """An :class:`~agentic_django.llm.base.LLMBackend` for Anthropic's Messages API.

    ``client`` takes a ready ``anthropic.AsyncAnthropic``; otherwise one is built
    from ``api_key`` (or ``ANTHROPIC_API_KEY``), ``base_url``, ``timeout`` and an
    optional ``http_client`` (the HTTP client type the SDK expects). The SDK's own
    retries are disabled; ``retry`` governs them instead.
    """

    provider = "anthropic"

    def __init__(
        self,
        *,
        model: str = "claude-sonnet-4-6",
        api_key: str | None = None,
        max_tokens: int = 4096,
        timeout: float = 120.0,
        base_url: str | None = None,
        retry: RetryConfig | dict[str, Any] | None = None,
        http_client: Any = None,
        client: Any = None,
    ) -> None:
        super().__init__(model=model, max_tokens=max_tokens, retry=retry)
        self._sdk = import_sdk("anthropic", extra="anthropic", backend="AnthropicBackend")
        if client is None:
            client = self._sdk.AsyncAnthropic(
                api_key=resolve_api_key(
                    api_key, ("ANTHROPIC_API_KEY",), backend="AnthropicBackend"
                ),
                base_url=base_url,
                timeout=timeout,
                max_retries=0,
                http_client=http_client,
            )
        elif hasattr(client, "with_options"):
            # A client built by the project keeps the SDK's default retries (2), which
            # would multiply ours: one layer retries, ours (it honours Retry-After too).
            client = client.with_options(max_retries=0)
        self._client = client

    async def generate(self, prompt: LLMPrompt) -> LLMResponse:
        """Send ``prompt`` and translate the reply."""
        request = self.build_request(prompt)
        message = await self._call(lambda: self._client.messages.create(**request))
        return self.parse_response(message, structured_tool=_structured_tool_name(prompt))

    async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
        """Stream text as it arrives; tool calls and usage come on the final chunk."""
        request = {**self.build_request(prompt), "stream": True}
        stream = await self._call(lambda: self._client.messages.create(**request))
        state = _StreamState(structured_tool=_structured_tool_name(prompt))
        try:
            async for event in stream:
                text = state.feed(event)
                if text:
                    yield LLMChunk(content=text)
        except self._sdk.APIError as exc:
            raise self._provider_error(exc) from exc
        yield state.final_chunk()

    def build_request(self, prompt: LLMPrompt) -> dict[str, Any]:
        """The keyword arguments for ``messages.create`` (the request body)."""
        request: dict[str, Any] = {
            "model": self._model,
            "max_tokens": prompt.max_tokens or self._max_tokens,
            "messages": _messages(prompt.messages),
        }
        system = system_text(prompt)
        if system:
            request["system"] = system
        tools = [
            {
                "name": t["name"],
                "description": t.get("description", ""),
                "input_schema": tool_parameters(t),
            }
            for t in map(neutral_tool, prompt.tools or [])
        ]
        choice = resolve_tool_choice(prompt.tool_choice)
        structured = _structured_tool_name(prompt)
        if structured is not None:
            tools.append(
                {
                    "name": structured,
                    "description": "Give your answer as the input of this tool.",
                    "input_schema": prompt.response_schema,
                }
            )
            request["tool_choice"] = {"type": "tool", "name": structured}
        elif choice is not None and tools:
            mode, name = choice
            request["tool_choice"] = (
                {"type": "tool", "name": name}
                if mode == "tool"
                else {"type": {"required": "any"}.get(mode, mode)}
            )
        if tools:
            request["tools"] = tools
        return request

    def parse_response(self, message: Any, *, structured_tool: str | None = None) -> LLMResponse:
        """Translate an SDK ``Message`` into an :class:`LLMResponse`."""
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCall] = []
        structured: str | None = None
        for block in message.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "thinking":
                thoughts.append(block.thinking)
            elif kind == "tool_use":
                if block.name == structured_tool:
                    structured = json.dumps(block.input)
                else:
                    calls.append(_tool_call(block.id, block.name, block.input))
        finish = _finish_reason(message.stop_reason)
        if structured is not None:
            finish = "stop"
        return LLMResponse(
            content=structured if structured is not None else "".join(texts),
            reasoning="".join(thoughts) or None,
            usage=LLMUsage(message.usage.input_tokens, message.usage.output_tokens),
            model=message.model or self._model,
            tool_calls=calls,
            finish_reason=finish,
        )

    def _api_errors(self) -> tuple[type[BaseException], ...]:
        return (self._sdk.APIError,)

    def _is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, self._sdk.APIConnectionError):  # includes timeouts
            return True
        return isinstance(exc, self._sdk.APIStatusError) and is_transient_status(exc.status_code)

    def _provider_error(self, exc: Any) -> LLMProviderError:
        status = getattr(exc, "status_code", None)
        message = getattr(exc, "api_message", None) or getattr(exc, "message", None) or str(exc)
        return LLMProviderError(
            f"Anthropic API error{f' {status}' if status else ''}: {message}",
            provider=self.provider,
            status_code=status,
        )


def _structured_tool_name(prompt: LLMPrompt) -> str | None:
    return schema_name(prompt, "structured_output") if prompt.response_schema else None


def _finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return _FINISH_REASONS.get(stop_reason, stop_reason.lower())


def _tool_call(id: str, name: str, arguments: Any) -> ToolCall:
    if isinstance(arguments, dict):
        return ToolCall(id=id, name=name, arguments=arguments)
    return ToolCall(
        id=id,
        name=name,
        parse_error=f"arguments are a {type(arguments).__name__}, not an object",
    )


def _messages(messages: list[LLMMessage]) -> list[dict[str, Any]]:
    """Translate the conversation; consecutive tool results share one user turn."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "system":
            continue
        if msg.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": msg.tool_call_id,
                "content": msg.content,
            }
            if msg.is_error:
                block["is_error"] = True
            previous = out[-1] if out else None
            if (
                previous is not None
                and previous["role"] == "user"
                and isinstance(previous["content"], list)
                and all(b.get("type") == "tool_result" for b in previous["content"])
            ):
                previous["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif msg.role == "assistant" and msg.tool_calls:
            blocks: list[dict[str, Any]] = []
            if msg.content:
                blocks.append({"type": "text", "text": msg.content})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in msg.tool_calls
            )
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": msg.role, "content": msg.content})
    return out


@dataclass
class _StreamState:
    """Assembles a streamed reply from Anthropic's server-sent events."""

    structured_tool: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)

    def feed(self, event: Any) -> str:
        """Absorb one event; return the text it adds to the visible reply."""
        kind = event.type
        if kind == "message_start":
            self.input_tokens = event.message.usage.input_tokens
            self.output_tokens = event.message.usage.output_tokens
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.blocks[event.index] = {"id": block.id, "name": block.name, "json": []}
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                return str(delta.text)
            if delta.type == "input_json_delta" and event.index in self.blocks:
                entry = self.blocks[event.index]
                entry["json"].append(delta.partial_json)
                if entry["name"] == self.structured_tool:
                    return str(delta.partial_json)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            if event.usage is not None:
                self.output_tokens = event.usage.output_tokens
        return ""

    def final_chunk(self) -> LLMChunk:
        calls = [
            ToolCall.from_json_arguments(b["id"], b["name"], "".join(b["json"]))
            for _, b in sorted(self.blocks.items())
            if b["name"] != self.structured_tool
        ]
        finish = _finish_reason(self.stop_reason)
        if self.structured_tool is not None:
            finish = "stop"
        return LLMChunk(
            is_final=True,
            tool_calls=calls,
            usage=LLMUsage(self.input_tokens, self.output_tokens),
            finish_reason=finish,
        )
