"""Gemini models through the official ``google-genai`` async client.

Structured output uses ``response_mime_type="application/json"`` with the schema
as ``response_json_schema``. Tool results must name the function they answer, so
the name is looked up from the assistant turn that made the call.
"""

from __future__ import annotations

import uuid
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
    system_text,
    tool_parameters,
)
from .provider import ProviderBackend
from .retry import RetryConfig
from .sdk import import_sdk, resolve_api_key

_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}

_TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE", "tool": "ANY"}


class GeminiBackend(ProviderBackend):
    """An :class:`~agentic_django.llm.base.LLMBackend` for the Gemini API.

    ``client`` takes a ready ``google.genai.Client``; otherwise one is built from
    ``api_key`` (or ``GOOGLE_API_KEY`` / ``GEMINI_API_KEY``), ``base_url``,
    ``timeout`` and an optional ``http_client`` (an async httpx client). The
    SDK does not retry by default; ``retry`` governs retries.
    """

    provider = "gemini"

    def __init__(
        self,
        *,
        model: str = "gemini-2.5-flash",
        api_key: str | None = None,
        max_tokens: int = 4096,
        timeout: float = 120.0,
        base_url: str | None = None,
        retry: RetryConfig | dict[str, Any] | None = None,
        http_client: Any = None,
        client: Any = None,
    ) -> None:
        super().__init__(model=model, max_tokens=max_tokens, retry=retry)
        genai = import_sdk("google.genai", extra="gemini", backend="GeminiBackend")
        self._errors = import_sdk("google.genai.errors", extra="gemini", backend="GeminiBackend")
        self._transport_errors = _transport_errors()
        if client is None:
            http_options: dict[str, Any] = {"timeout": int(timeout * 1000)}
            if base_url:
                http_options["base_url"] = base_url
            if http_client is not None:
                http_options["httpx_async_client"] = http_client
            client = genai.Client(
                api_key=resolve_api_key(
                    api_key, ("GOOGLE_API_KEY", "GEMINI_API_KEY"), backend="GeminiBackend"
                ),
                http_options=http_options,
            )
        self._client = client

    async def generate(self, prompt: LLMPrompt) -> LLMResponse:
        """Send ``prompt`` and translate the reply."""
        request = self.build_request(prompt)
        response = await self._call(lambda: self._client.aio.models.generate_content(**request))
        state = _ResponseState()
        state.feed(response)
        return state.response(self._model)

    async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
        """Stream text as it arrives; tool calls and usage come on the final chunk."""
        request = self.build_request(prompt)
        stream = await self._call(
            lambda: self._client.aio.models.generate_content_stream(**request)
        )
        state = _ResponseState()
        try:
            async for part in stream:
                text = state.feed(part)
                if text:
                    yield LLMChunk(content=text)
        except self._errors.APIError as exc:
            raise self._provider_error(exc) from exc
        final = state.response(self._model)
        yield LLMChunk(
            is_final=True,
            tool_calls=final.tool_calls,
            usage=final.usage,
            finish_reason=final.finish_reason,
        )

    def build_request(self, prompt: LLMPrompt) -> dict[str, Any]:
        """Keyword arguments for ``models.generate_content`` (model, contents, config)."""
        config: dict[str, Any] = {"max_output_tokens": prompt.max_tokens or self._max_tokens}
        system = system_text(prompt)
        if system:
            config["system_instruction"] = system
        if prompt.temperature is not None:
            config["temperature"] = prompt.temperature
        if prompt.tools:
            config["tools"] = [
                {
                    "function_declarations": [
                        {
                            "name": t["name"],
                            "description": t.get("description", ""),
                            "parameters_json_schema": tool_parameters(t),
                        }
                        for t in map(neutral_tool, prompt.tools)
                    ]
                }
            ]
            choice = resolve_tool_choice(prompt.tool_choice)
            if choice is not None:
                mode, name = choice
                calling: dict[str, Any] = {"mode": _TOOL_MODES[mode]}
                if name is not None:
                    calling["allowed_function_names"] = [name]
                config["tool_config"] = {"function_calling_config": calling}
        if prompt.response_schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = prompt.response_schema
        return {"model": self._model, "contents": _contents(prompt.messages), "config": config}

    def _api_errors(self) -> tuple[type[BaseException], ...]:
        return (self._errors.APIError, *self._transport_errors)

    def _is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, self._transport_errors):
            return True
        if isinstance(exc, self._errors.APIError):
            code = exc.code or 0
            return code in (408, 429) or code >= 500
        return False

    def _provider_error(self, exc: Any) -> LLMProviderError:
        if isinstance(exc, self._transport_errors):
            return LLMProviderError(f"Gemini API unreachable: {exc}", provider=self.provider)
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", None) or str(exc)
        return LLMProviderError(
            f"Gemini API error{f' {code}' if code else ''}: {message}",
            provider=self.provider,
            status_code=code,
        )


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level exception types of whichever httpx flavours are installed."""
    found: list[type[BaseException]] = []
    for module in ("httpx", "httpx2"):
        try:
            found.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _contents(messages: list[LLMMessage]) -> list[dict[str, Any]]:
    """Translate the conversation; consecutive tool results share one user turn."""
    names = {c.id: c.name for m in messages for c in m.tool_calls or []}
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "system":
            continue
        if msg.role == "tool":
            response: dict[str, Any] = {
                "name": names.get(msg.tool_call_id or "") or msg.name or msg.tool_call_id,
                "response": {"error" if msg.is_error else "result": msg.content},
            }
            if msg.tool_call_id:
                response["id"] = msg.tool_call_id
            part = {"function_response": response}
            previous = out[-1] if out else None
            if previous is not None and all("function_response" in p for p in previous["parts"]):
                previous["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part]})
            continue
        parts: list[dict[str, Any]] = [{"text": msg.content}] if msg.content else []
        if msg.role == "assistant":
            parts.extend(
                {"function_call": {"id": c.id, "name": c.name, "args": c.arguments}}
                for c in msg.tool_calls or []
            )
        out.append(
            {
                "role": "model" if msg.role == "assistant" else "user",
                "parts": parts or [{"text": ""}],
            }
        )
    return out


@dataclass
class _ResponseState:
    """Accumulates one response, or the successive pieces of a streamed one."""

    texts: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    usage: LLMUsage = field(default_factory=LLMUsage)
    raw_finish: str | None = None
    blocked: bool = False
    model: str | None = None

    def feed(self, response: Any) -> str:
        """Absorb one response object; return the visible text it adds."""
        self.model = getattr(response, "model_version", None) or self.model
        meta = response.usage_metadata
        if meta is not None:
            self.usage = LLMUsage(
                meta.prompt_token_count or 0,
                (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
            )
        feedback = getattr(response, "prompt_feedback", None)
        if feedback is not None and feedback.block_reason is not None:
            self.blocked = True
        if not response.candidates:
            return ""
        candidate = response.candidates[0]
        if candidate.finish_reason is not None:
            reason = candidate.finish_reason
            self.raw_finish = str(getattr(reason, "value", reason))
        added: list[str] = []
        parts = candidate.content.parts if candidate.content is not None else None
        for part in parts or []:
            if part.function_call is not None:
                call = part.function_call
                self.calls.append(_tool_call(call.id, call.name or "", call.args))
            elif part.text:
                (self.thoughts if part.thought else added).append(part.text)
        self.texts.extend(added)
        return "".join(added)

    def response(self, model: str) -> LLMResponse:
        return LLMResponse(
            content="".join(self.texts),
            reasoning="".join(self.thoughts) or None,
            usage=self.usage,
            model=self.model or model,
            tool_calls=list(self.calls),
            finish_reason=self._finish_reason(),
        )

    def _finish_reason(self) -> str | None:
        if self.blocked:
            return "content_filter"
        if self.raw_finish is None:
            return None
        if self.raw_finish == "STOP" and self.calls:
            return "tool_calls"
        return _FINISH_REASONS.get(self.raw_finish, self.raw_finish.lower())


def _tool_call(id: str | None, name: str, args: Any) -> ToolCall:
    call_id = id or f"call_{uuid.uuid4().hex[:24]}"
    if args is None:
        return ToolCall(id=call_id, name=name)
    if isinstance(args, dict):
        return ToolCall(id=call_id, name=name, arguments=dict(args))
    return ToolCall(
        id=call_id, name=name, parse_error=f"arguments are a {type(args).__name__}, not an object"
    )
