"""OpenAI chat models through the official ``openai`` async SDK (Chat Completions).

Structured output uses ``response_format`` with a strict JSON schema; the schema
is made strict-compatible first (closed objects, every property required).
``base_url`` lets the same backend talk to OpenAI-compatible servers.
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

_FINISH_REASONS = {"function_call": "tool_calls"}


class OpenAIBackend(ProviderBackend):
    """An :class:`~agentic_django.llm.base.LLMBackend` for OpenAI's Chat Completions API.

    ``client`` takes a ready ``openai.AsyncOpenAI``; otherwise one is built from
    ``api_key`` (or ``OPENAI_API_KEY``), ``base_url``, ``organization``, ``timeout``
    and an optional ``http_client``. The SDK's own retries are disabled; ``retry``
    governs them instead.
    """

    provider = "openai"

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        api_key: str | None = None,
        max_tokens: int = 4096,
        timeout: float = 120.0,
        base_url: str | None = None,
        organization: str | None = None,
        retry: RetryConfig | dict[str, Any] | None = None,
        http_client: Any = None,
        client: Any = None,
    ) -> None:
        super().__init__(model=model, max_tokens=max_tokens, retry=retry)
        self._sdk = import_sdk("openai", extra="openai", backend="OpenAIBackend")
        if client is None:
            client = self._sdk.AsyncOpenAI(
                api_key=resolve_api_key(api_key, ("OPENAI_API_KEY",), backend="OpenAIBackend"),
                base_url=base_url,
                organization=organization,
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
        completion = await self._call(lambda: self._client.chat.completions.create(**request))
        return self.parse_response(completion)

    async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
        """Stream text as it arrives; tool calls and usage come on the final chunk."""
        request = {
            **self.build_request(prompt),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        stream = await self._call(lambda: self._client.chat.completions.create(**request))
        state = _StreamState()
        try:
            async for chunk in stream:
                text = state.feed(chunk)
                if text:
                    yield LLMChunk(content=text)
        except self._sdk.APIError as exc:
            raise self._provider_error(exc) from exc
        yield state.final_chunk()

    def build_request(self, prompt: LLMPrompt) -> dict[str, Any]:
        """The keyword arguments for ``chat.completions.create`` (the request body)."""
        messages: list[dict[str, Any]] = []
        system = system_text(prompt)
        if system:
            messages.append({"role": "system", "content": system})
        messages.extend(_message(m) for m in prompt.messages if m.role != "system")
        request: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "max_completion_tokens": prompt.max_tokens or self._max_tokens,
        }
        if prompt.temperature is not None:
            request["temperature"] = prompt.temperature
        if prompt.tools:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t["name"],
                        "description": t.get("description", ""),
                        "parameters": tool_parameters(t),
                    },
                }
                for t in map(neutral_tool, prompt.tools)
            ]
            choice = resolve_tool_choice(prompt.tool_choice)
            if choice is not None:
                mode, name = choice
                request["tool_choice"] = (
                    {"type": "function", "function": {"name": name}} if mode == "tool" else mode
                )
        if prompt.response_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(prompt),
                    "schema": strict_schema(prompt.response_schema),
                    "strict": True,
                },
            }
        return request

    def parse_response(self, completion: Any) -> LLMResponse:
        """Translate an SDK ``ChatCompletion`` into an :class:`LLMResponse`."""
        choice = completion.choices[0]
        message = choice.message
        calls = [
            ToolCall.from_json_arguments(c.id, c.function.name, c.function.arguments)
            for c in message.tool_calls or []
            if getattr(c, "function", None) is not None
        ]
        finish = _finish_reason(choice.finish_reason)
        if getattr(message, "refusal", None) and not message.content:
            finish = "content_filter"
        usage = completion.usage
        return LLMResponse(
            content=message.content or "",
            usage=LLMUsage(
                usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0
            ),
            model=completion.model or self._model,
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
        body = getattr(exc, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        return LLMProviderError(
            f"OpenAI API error{f' {status}' if status else ''}: {message or exc}",
            provider=self.provider,
            status_code=status,
        )


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that OpenAI's strict mode accepts.

    Every object is closed (``additionalProperties: false``) and lists all its
    properties as required; ``default`` values, which strict mode rejects, are
    dropped. Optional fields should allow ``null`` so the model can leave them empty.
    """
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strict_schema(sub) for sub in value]
        elif key in _SCHEMA_NODES and isinstance(value, dict):
            out[key] = strict_schema(value)
        else:
            out[key] = value
    if out.get("type") == "object" or "properties" in out:
        out.setdefault("properties", {})
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_NODES = ("items", "not")


def _finish_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return _FINISH_REASONS.get(reason, reason)


def _message(msg: LLMMessage) -> dict[str, Any]:
    if msg.role == "tool":
        return {"role": "tool", "tool_call_id": msg.tool_call_id, "content": msg.content}
    if msg.role == "assistant" and msg.tool_calls:
        return {
            "role": "assistant",
            "content": msg.content or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in msg.tool_calls
            ],
        }
    return {"role": msg.role, "content": msg.content}


@dataclass
class _StreamState:
    """Assembles a streamed reply from Chat Completions chunks."""

    usage: LLMUsage | None = None
    finish_reason: str | None = None
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def feed(self, chunk: Any) -> str:
        """Absorb one chunk; return the text it adds to the visible reply."""
        if chunk.usage is not None:
            self.usage = LLMUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        if choice.finish_reason is not None:
            self.finish_reason = _finish_reason(choice.finish_reason)
        delta = choice.delta
        for part in delta.tool_calls or []:
            entry = self.calls.setdefault(part.index, {"id": "", "name": "", "arguments": []})
            if part.id:
                entry["id"] = part.id
            if part.function is not None:
                if part.function.name:
                    entry["name"] += part.function.name
                if part.function.arguments:
                    entry["arguments"].append(part.function.arguments)
        return delta.content or ""

    def final_chunk(self) -> LLMChunk:
        calls = [
            ToolCall.from_json_arguments(c["id"], c["name"], "".join(c["arguments"]))
            for _, c in sorted(self.calls.items())
        ]
        return LLMChunk(
            is_final=True,
            tool_calls=calls,
            usage=self.usage or LLMUsage(),
            finish_reason=self.finish_reason,
        )
