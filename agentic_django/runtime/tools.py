"""Tools an agent may call: the ``@tool`` decorator, the tool protocol and the registry.

A tool's arguments are described by a pydantic model built from the function
signature, so the JSON schema the model sees and the validation applied to its
calls come from one source.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, overload, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from agentic_django.core.exceptions import ToolError

#: Runs a blocking zero-argument callable without blocking the event loop.
RunSync = Callable[[Callable[[], Any]], Awaitable[Any]]


async def run_in_thread(fn: Callable[[], Any]) -> Any:
    """The default :data:`RunSync`: run ``fn`` in a worker thread."""
    return await asyncio.to_thread(fn)


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is calling a tool and on whose behalf, injected into tools that ask for it.

    A tool function receives it by declaring a parameter annotated ``ToolContext``;
    that parameter is left out of the schema shown to the model.
    """

    user_id: str | None = None
    #: The requesting user object (a Django user on the web side), for permission checks.
    user: Any = None
    endpoint: str | None = None
    trace_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Tool(Protocol):
    """What the agentic loop needs from a tool; :class:`FunctionTool` is one."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def requires_approval(self) -> bool: ...

    @property
    def capabilities(self) -> frozenset[str]: ...

    @property
    def definition(self) -> dict[str, Any]: ...

    async def invoke(
        self, arguments: Mapping[str, Any], context: ToolContext | None = None
    ) -> Any: ...


@runtime_checkable
class ToolSource(Protocol):
    """Tools known only at run time, such as those of an MCP server.

    A :class:`ToolRegistry` keeps sources apart from its tools and asks each for
    its tools when a loop starts (:meth:`ToolRegistry.resolved`); a source that
    cannot answer returns the tools that report why when called.
    """

    @property
    def source_name(self) -> str: ...

    async def load_tools(self) -> list[Tool]: ...


class FunctionTool:
    """A plain or async function exposed as a tool (build one with :func:`tool`)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        requires_approval: bool = False,
        capabilities: Iterable[str] = (),
        run_sync: RunSync | None = None,
    ) -> None:
        self.fn = fn
        self._name = name or fn.__name__
        self._description = description or _summary(fn)
        self._requires_approval = requires_approval
        self._capabilities = frozenset(capabilities)
        self._run_sync = run_sync or run_in_thread
        self._is_async = inspect.iscoroutinefunction(fn)
        self.arguments_model, self._context_parameter = _arguments_model(fn, self._name)
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @property
    def requires_approval(self) -> bool:
        return self._requires_approval

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    @property
    def definition(self) -> dict[str, Any]:
        """The neutral tool definition ``{"name", "description", "parameters"}``."""
        return {
            "name": self._name,
            "description": self._description,
            "parameters": self.arguments_model.model_json_schema(),
        }

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The validated keyword arguments; :class:`ToolError` listing every bad field."""
        try:
            parsed = self.arguments_model.model_validate(dict(arguments))
        except ValidationError as exc:
            raise ToolError(
                f"Invalid arguments for tool {self._name!r}: {describe_validation_error(exc)}",
                tool=self._name,
            ) from exc
        return {key: getattr(parsed, key) for key in type(parsed).model_fields}

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext | None = None) -> Any:
        """Validate ``arguments`` and run the function; exceptions it raises propagate."""
        kwargs = self.validate(arguments)
        if self._context_parameter is not None:
            kwargs[self._context_parameter] = context or ToolContext()
        if self._is_async:
            return await self.fn(**kwargs)
        return await self._run_sync(functools.partial(self.fn, **kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (handy in tests and plain code)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<FunctionTool {self._name}>"


@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    requires_approval: bool = False,
    capabilities: Iterable[str] = (),
    run_sync: RunSync | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    requires_approval: bool = False,
    capabilities: Iterable[str] = (),
    run_sync: RunSync | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn a function into a :class:`FunctionTool`, bare (``@tool``) or configured.

    The description defaults to the docstring's first paragraph; ``requires_approval``
    makes the agentic loop pause for a human before each call.
    """

    def wrap(function: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            function,
            name=name,
            description=description,
            requires_approval=requires_approval,
            capabilities=capabilities,
            run_sync=run_sync,
        )

    return wrap(fn) if fn is not None else wrap


class ToolRegistry:
    """The tools offered to an agent, by unique name."""

    def __init__(self, tools: Iterable[Tool | ToolSource | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._sources: list[ToolSource] = []
        for item in tools:
            if isinstance(item, ToolSource):
                self._sources.append(item)
            else:
                self.register(item)

    async def resolved(self) -> ToolRegistry:
        """This registry with the tools of its sources added (itself when it has none)."""
        if not self._sources:
            return self
        complete = ToolRegistry(self._tools.values())
        for source in self._sources:
            for item in await source.load_tools():
                if item.name in complete:
                    raise ToolError(
                        f"Tool {item.name!r} of {source.source_name!r} clashes with another "
                        "tool of the same name; give the source a prefix."
                    )
                complete.register(item)
        return complete

    def register(self, item: Tool | Callable[..., Any]) -> Tool:
        """Add a tool (a plain function is wrapped with :func:`tool`); duplicates raise."""
        registered = item if isinstance(item, Tool) else tool(item)
        if registered.name in self._tools:
            raise ValueError(f"A tool named {registered.name!r} is already registered")
        self._tools[registered.name] = registered
        return registered

    def get(self, name: str) -> Tool:
        """The tool called ``name``; :class:`ToolError` naming the known tools otherwise."""
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise ToolError(f"Unknown tool {name!r}; available tools: {known}") from None

    def definitions(self) -> list[dict[str, Any]]:
        """Every tool's definition, in registration order, for ``LLMPrompt.tools``."""
        return [item.definition for item in self._tools.values()]

    def by_capability(self, capability: str) -> list[Tool]:
        """The tools declaring ``capability``."""
        return [item for item in self._tools.values() if capability in item.capabilities]

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    @property
    def sources(self) -> list[ToolSource]:
        return list(self._sources)

    def __len__(self) -> int:
        """The tools known now plus the sources whose tools come at run time."""
        return len(self._tools) + len(self._sources)


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line per invalid field: ``"days: Input should be a valid integer"``."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "arguments"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def _summary(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n", 1)[0].split()) or fn.__name__.replace("_", " ")


def _is_context_annotation(annotation: Any) -> bool:
    if annotation is ToolContext:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return ToolContext in typing.get_args(annotation)
    return False


def _arguments_model(fn: Callable[..., Any], tool_name: str) -> tuple[type[BaseModel], str | None]:
    """The pydantic model of ``fn``'s arguments and the name of its context parameter."""
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:
        raise TypeError(f"Cannot resolve the annotations of tool {tool_name!r}: {exc}") from exc
    fields: dict[str, Any] = {}
    context_parameter: str | None = None
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"Tool {tool_name!r} cannot take *args or **kwargs")
        annotation = hints.get(parameter.name, Any)
        if _is_context_annotation(annotation):
            context_parameter = parameter.name
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model_name = "".join(part.title() for part in tool_name.split("_")) + "Arguments"
    model = create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
    return model, context_parameter
