"""The provider-neutral LLM vocabulary: the backend protocol and its data classes.

Backends translate these classes to and from their provider's wire format, so the
rest of the framework (intent parsing, code generation, the agentic loop) never
sees a provider SDK type.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

#: Tool definitions use this neutral shape: ``{"name", "description", "parameters"}``
#: where ``parameters`` is a JSON schema of the tool's arguments.
ToolSpec = dict[str, Any]

#: ``"auto"``, ``"required"``, ``"none"``, a tool name, or ``{"name": tool_name}``.
ToolChoice = str | Mapping[str, str]

ToolChoiceMode = Literal["auto", "required", "none", "tool"]


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """Tokens consumed by one LLM call."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call requested by the model.

    When the provider sends arguments that are not a JSON object, ``arguments``
    is ``{}`` and ``parse_error`` says what was wrong, so the caller can report
    the problem to the model instead of crashing the request.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    parse_error: str | None = None

    @classmethod
    def from_json_arguments(cls, id: str, name: str, raw: str | None) -> ToolCall:
        """Build a call from the JSON-encoded arguments a provider streams or returns."""
        if not raw or not raw.strip():
            return cls(id=id, name=name, arguments={})
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return cls(id=id, name=name, parse_error=f"arguments are not valid JSON: {exc}")
        if not isinstance(value, dict):
            kind = type(value).__name__
            return cls(id=id, name=name, parse_error=f"arguments are a JSON {kind}, not an object")
        return cls(id=id, name=name, arguments=value)


@dataclass(frozen=True, slots=True)
class LLMMessage:
    """One message of a conversation.

    ``role`` is ``"user"``, ``"assistant"``, ``"tool"`` or ``"system"`` (system
    messages are folded into the prompt's system text). An assistant message that
    called tools carries them in ``tool_calls``; the result of a call is a
    ``"tool"`` message whose ``tool_call_id`` names the call (and ``name`` the
    tool, when known).
    """

    role: str
    content: str = ""
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class LLMPrompt:
    """Everything a backend needs for one call.

    ``response_schema`` (a JSON schema) asks for provider-native structured output:
    the reply's ``content`` is then JSON text conforming to it. ``temperature=None``
    leaves the provider's default (some reasoning models reject any other value).
    """

    system: str
    messages: list[LLMMessage] = field(default_factory=list)
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoice | None = None
    response_schema: dict[str, Any] | None = None
    response_schema_name: str | None = None
    max_tokens: int | None = None
    temperature: float | None = 0.1


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """A complete reply.

    ``finish_reason`` is normalised to ``"stop"``, ``"tool_calls"``, ``"length"``
    or ``"content_filter"`` where the provider's reason maps onto one of them, and
    is the provider's own lower-cased value otherwise.
    """

    content: str
    reasoning: str | None = None
    confidence: float = 1.0
    usage: LLMUsage = field(default_factory=LLMUsage)
    model: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class LLMChunk:
    """A piece of a streamed reply.

    Text arrives in ``content`` as it is generated. The final chunk
    (``is_final=True``) carries the assembled ``tool_calls``, the ``usage`` and the
    ``finish_reason``.
    """

    content: str = ""
    is_final: bool = False
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: LLMUsage | None = None
    finish_reason: str | None = None


@runtime_checkable
class LLMBackend(Protocol):
    """What the framework needs from an LLM backend.

    A protocol, so any object with these members works, including wrappers from
    other libraries. ``provider`` and ``model_name`` label recorded calls.
    """

    provider: str

    @property
    def model_name(self) -> str: ...

    async def generate(self, prompt: LLMPrompt) -> LLMResponse: ...

    def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]: ...


def system_text(prompt: LLMPrompt) -> str:
    """The prompt's system text with any ``role="system"`` messages appended."""
    extra = [m.content for m in prompt.messages if m.role == "system" and m.content]
    return "\n\n".join([prompt.system, *extra]) if extra else prompt.system


def tool_parameters(tool: ToolSpec) -> dict[str, Any]:
    """The JSON schema of a tool's arguments (``input_schema`` is accepted as an alias)."""
    schema = tool.get("parameters", tool.get("input_schema"))
    return dict(schema) if schema else {"type": "object", "properties": {}}


def resolve_tool_choice(choice: ToolChoice | None) -> tuple[ToolChoiceMode, str | None] | None:
    """Normalise a ``tool_choice`` to ``(mode, tool_name)``; ``None`` keeps the default."""
    if choice is None:
        return None
    if isinstance(choice, Mapping):
        name = choice.get("name")
        if not name:
            raise ValueError(f"tool_choice {dict(choice)!r} must name a tool")
        return ("tool", name)
    if choice in ("auto", "required", "none"):
        return (choice, None)  # type: ignore[return-value]
    return ("tool", choice)


def schema_name(prompt: LLMPrompt, default: str = "response") -> str:
    """A provider-safe name for the prompt's response schema."""
    raw = prompt.response_schema_name or (prompt.response_schema or {}).get("title") or default
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(raw))
    return cleaned[:64] or default


@dataclass(frozen=True, slots=True)
class LLMCallRecord:
    """One finished LLM call, handed to an observer for recording.

    Exactly one of ``response`` and ``error`` is set.
    """

    purpose: str
    provider: str
    model: str
    latency_ms: float
    response: LLMResponse | None = None
    error: BaseException | None = None


#: Receives each piece of a streamed reply's text as it arrives.
TextCallback = Callable[[str], Awaitable[None]]

#: Receives each :class:`LLMCallRecord`; may be a plain or an async function.
LLMCallObserver = Callable[[LLMCallRecord], Awaitable[None] | None]


async def observed_generate(
    llm: LLMBackend,
    prompt: LLMPrompt,
    *,
    purpose: str,
    observer: LLMCallObserver | None = None,
    on_text: TextCallback | None = None,
) -> LLMResponse:
    """Call ``llm.generate(prompt)`` and report the outcome to ``observer``.

    With ``on_text`` the reply is streamed instead: each piece of text is handed
    to ``on_text`` as it arrives, and the assembled reply is returned. The
    observer sees failures too (with ``error`` set) before the exception
    propagates unchanged.
    """
    started = time.perf_counter()
    try:
        if on_text is None:
            response = await llm.generate(prompt)
        else:
            response = await _assemble_stream(llm, prompt, on_text)
    except Exception as exc:
        await _notify(observer, llm, purpose, started, error=exc)
        raise
    await _notify(observer, llm, purpose, started, response=response)
    return response


async def _assemble_stream(
    llm: LLMBackend, prompt: LLMPrompt, on_text: TextCallback
) -> LLMResponse:
    parts: list[str] = []
    final: LLMChunk | None = None
    async for chunk in llm.generate_stream(prompt):
        if chunk.content:
            parts.append(chunk.content)
            await on_text(chunk.content)
        if chunk.is_final:
            final = chunk
    return LLMResponse(
        content="".join(parts),
        usage=(final.usage if final and final.usage else LLMUsage()),
        model=llm.model_name,
        tool_calls=list(final.tool_calls) if final else [],
        finish_reason=final.finish_reason if final else None,
    )


async def _notify(
    observer: LLMCallObserver | None,
    llm: LLMBackend,
    purpose: str,
    started: float,
    *,
    response: LLMResponse | None = None,
    error: BaseException | None = None,
) -> None:
    if observer is None:
        return
    record = LLMCallRecord(
        purpose=purpose,
        provider=getattr(llm, "provider", type(llm).__name__),
        model=(response.model if response and response.model else llm.model_name),
        latency_ms=(time.perf_counter() - started) * 1000.0,
        response=response,
        error=error,
    )
    result = observer(record)
    if inspect.isawaitable(result):
        await result
