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
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

#: Tool definitions use this neutral shape: ``{"name", "description", "parameters"}``
#: where ``parameters`` is a JSON schema of the tool's arguments. The OpenAI shape
#: (``{"type": "function", "function": {...}}``) and Anthropic's ``input_schema``
#: are accepted too (see :func:`neutral_tool`).
ToolSpec = dict[str, Any]

#: ``"auto"``, ``"required"``, ``"none"``, a tool name, or ``{"name": tool_name}``.
ToolChoice = str | Mapping[str, str]

ToolChoiceMode = Literal["auto", "required", "none", "tool"]


#: Characters per token assumed when a backend does not report usage.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """Tokens consumed by one LLM call.

    ``estimated`` is true when the backend did not report usage and the counts
    were estimated from the text sent and received (see :func:`estimate_usage`),
    so a call is never recorded as free because its backend kept quiet.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False

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
    """What the framework needs from an LLM backend: three members.

    A protocol, so any object with ``generate``, ``generate_stream`` and
    ``model_name`` works, including wrappers from libraries that never heard of
    this one. Everything else is an optional capability, detected and never
    assumed: ``provider`` (a label for recorded calls, see :func:`backend_provider`)
    and ``streams_tool_calls`` (see :func:`streams_tool_calls`).
    """

    @property
    def model_name(self) -> str: ...

    async def generate(self, prompt: LLMPrompt) -> LLMResponse: ...

    def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]: ...


#: The members a backend must have, with what each must be (for error messages).
REQUIRED_MEMBERS: dict[str, str] = {
    "generate": "an async method generate(prompt) returning an LLMResponse",
    "generate_stream": "a method generate_stream(prompt) returning an async iterator of LLMChunk",
    "model_name": "a model_name attribute or property (a string)",
}


def missing_members(candidate: object) -> list[str]:
    """What ``candidate`` (a backend class or instance) lacks of :class:`LLMBackend`.

    Each entry names the member and what it must be, ready for an error message;
    an empty list means the protocol is satisfied. On a class, ``model_name`` may
    also be declared as an annotation (set per instance in ``__init__``).
    """
    gaps: list[str] = []
    generate = getattr(candidate, "generate", None)
    if generate is None or not callable(generate):
        gaps.append(f"missing `generate` ({REQUIRED_MEMBERS['generate']})")
    elif not inspect.iscoroutinefunction(generate):
        gaps.append("`generate` is not async (it must be `async def generate(self, prompt)`)")
    stream = getattr(candidate, "generate_stream", None)
    if stream is None or not callable(stream):
        gaps.append(f"missing `generate_stream` ({REQUIRED_MEMBERS['generate_stream']})")
    has_model_name = hasattr(candidate, "model_name")
    if not has_model_name and isinstance(candidate, type):
        has_model_name = any(
            "model_name" in getattr(klass, "__annotations__", {})
            or "model_name" in getattr(klass, "__slots__", ())
            for klass in candidate.__mro__
        )
    if not has_model_name:
        gaps.append(f"missing `model_name` ({REQUIRED_MEMBERS['model_name']})")
    return gaps


def backend_provider(llm: object, default: str = "") -> str:
    """The provider label of ``llm``, for recorded calls.

    The backend's own ``provider`` string when it has one; otherwise the top-level
    package its class comes from (``acme_llm`` for ``acme_llm.backends.Client``);
    otherwise ``default`` (the alias it is configured under, typically).
    """
    own = getattr(llm, "provider", None)
    if isinstance(own, str) and own:
        return own
    package = type(llm).__module__.partition(".")[0]
    if package and package not in ("__main__", "builtins"):
        return package
    return default


def streams_tool_calls(llm: object) -> bool:
    """Whether ``llm.generate_stream`` reports tool calls on its final chunk.

    A capability a backend declares with ``streams_tool_calls = True`` (every
    backend of this package does). A backend shaped like the bare protocol
    streams text only, so tool turns must go through its ``generate``.
    """
    return getattr(llm, "streams_tool_calls", False) is True


def prompt_text(prompt: LLMPrompt) -> str:
    """Everything the provider is sent, as text, for estimating input tokens."""
    parts = [prompt.system, *(message.content for message in prompt.messages)]
    if prompt.tools:
        parts.append(json.dumps(prompt.tools, default=str))
    if prompt.response_schema:
        parts.append(json.dumps(prompt.response_schema, default=str))
    return "\n".join(parts)


def estimate_tokens(text: str) -> int:
    """Tokens in ``text`` at ``CHARS_PER_TOKEN`` characters a token, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


def estimate_usage(prompt: LLMPrompt, content: str, tool_calls: list[ToolCall]) -> LLMUsage:
    """Usage of a call whose backend reported none, estimated from its text."""
    output = content + "".join(json.dumps(call.arguments) + call.name for call in tool_calls)
    return LLMUsage(
        input_tokens=estimate_tokens(prompt_text(prompt)),
        output_tokens=estimate_tokens(output),
        estimated=True,
    )


def with_usage(prompt: LLMPrompt, response: LLMResponse) -> LLMResponse:
    """``response``, with usage estimated when the backend reported none for real work."""
    usage = getattr(response, "usage", None)
    produced = bool(response.content or response.tool_calls)
    if isinstance(usage, LLMUsage) and (usage.total_tokens or not produced):
        return response
    if usage is not None and not isinstance(usage, LLMUsage):
        # A foreign usage object (a third-party dataclass): keep its numbers.
        counted = LLMUsage(
            int(getattr(usage, "input_tokens", 0) or 0),
            int(getattr(usage, "output_tokens", 0) or 0),
        )
        if counted.total_tokens or not produced:
            return replace(response, usage=counted)
    return replace(response, usage=estimate_usage(prompt, response.content, response.tool_calls))


def system_text(prompt: LLMPrompt) -> str:
    """The prompt's system text with any ``role="system"`` messages appended."""
    extra = [m.content for m in prompt.messages if m.role == "system" and m.content]
    return "\n\n".join([prompt.system, *extra]) if extra else prompt.system


def neutral_tool(tool: ToolSpec) -> ToolSpec:
    """``tool`` in the neutral shape, whichever of the accepted shapes it came in.

    ``{"type": "function", "function": {"name": ..., "parameters": ...}}`` (the
    OpenAI shape, which many examples and libraries produce) is unwrapped; a tool
    with no name is an error naming what was received.
    """
    inner = tool.get("function")
    if isinstance(inner, Mapping) and "name" not in tool:
        tool = dict(inner)
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        raise ValueError(f"tool definition {dict(tool)!r} has no name")
    return tool


def tool_parameters(tool: ToolSpec) -> dict[str, Any]:
    """The JSON schema of a tool's arguments (``input_schema`` is accepted as an alias)."""
    schema = tool.get("parameters", tool.get("input_schema"))
    return dict(schema) if schema else {"type": "object", "properties": {}}


def resolve_tool_choice(choice: ToolChoice | None) -> tuple[ToolChoiceMode, str | None] | None:
    """Normalise a ``tool_choice`` to ``(mode, tool_name)``; ``None`` keeps the default."""
    if choice is None:
        return None
    if isinstance(choice, Mapping):
        inner = choice.get("function")
        name = inner.get("name") if isinstance(inner, Mapping) else choice.get("name")
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

    Exactly one of ``response`` and ``error`` is set. ``prompt`` is what was sent,
    for observers that record content when asked to (tracing); ``None`` when the
    caller did not hand it over.
    """

    purpose: str
    provider: str
    model: str
    latency_ms: float
    response: LLMResponse | None = None
    error: BaseException | None = None
    prompt: LLMPrompt | None = None


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
            response = with_usage(prompt, await llm.generate(prompt))
        elif prompt.tools and not streams_tool_calls(llm):
            # The stream would drop the tool calls: ask for the whole reply instead.
            response = with_usage(prompt, await llm.generate(prompt))
            if response.content:
                await on_text(response.content)
        else:
            response = await _assemble_stream(llm, prompt, on_text)
    except Exception as exc:
        await _notify(observer, llm, prompt, purpose, started, error=exc)
        raise
    await _notify(observer, llm, prompt, purpose, started, response=response)
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
    return with_usage(
        prompt,
        LLMResponse(
            content="".join(parts),
            usage=getattr(final, "usage", None) or LLMUsage(),
            model=llm.model_name,
            tool_calls=list(getattr(final, "tool_calls", None) or []),
            finish_reason=getattr(final, "finish_reason", None),
        ),
    )


async def _notify(
    observer: LLMCallObserver | None,
    llm: LLMBackend,
    prompt: LLMPrompt,
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
        provider=backend_provider(llm),
        model=(response.model if response and response.model else llm.model_name),
        latency_ms=(time.perf_counter() - started) * 1000.0,
        response=response,
        error=error,
        prompt=prompt,
    )
    result = observer(record)
    if inspect.isawaitable(result):
        await result
