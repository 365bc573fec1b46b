"""Dependency injection for agent handlers.

A handler's parameters are resolved once, at registration, into an
:class:`InjectionPlan`. Built-in values are injected by annotation (``Intent``
or ``Intent[T]``, ``AgentContext``, ``AgentTasks``, ``UploadedFiles`` and any
type the web layer registers, such as the request); the first two unannotated
parameters receive ``(intent, context)``; ``Depends(callable)`` runs a
dependency (sync, async, or a generator whose code after ``yield`` is the
teardown) whose own parameters are resolved the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .context import AgentContext
from .files import UploadedFiles
from .intent import Intent
from .tasks import AgentTasks

#: Built-in injectable types and the key under which their value is supplied.
BUILTIN_INJECTABLES: dict[type, str] = {
    AgentContext: "context",
    AgentTasks: "tasks",
    UploadedFiles: "files",
}

_POSITIONAL_KEYS = ("intent", "context")

#: How deep ``Depends`` may nest; deeper chains are refused at start-up.
MAX_DEPENDENCY_DEPTH = 32


class Dependency:
    """A parameter whose value comes from calling ``dependency`` (see :func:`Depends`)."""

    __slots__ = ("dependency", "use_cache")

    def __init__(self, dependency: Callable[..., Any], *, use_cache: bool = True) -> None:
        if not callable(dependency):
            raise TypeError(f"Depends() needs a callable, got {dependency!r}")
        self.dependency = dependency
        self.use_cache = use_cache

    def __repr__(self) -> str:
        return f"Depends({getattr(self.dependency, '__qualname__', self.dependency)!r})"


def Depends(dependency: Callable[..., Any], *, use_cache: bool = True) -> Any:
    """Declare a parameter whose value comes from calling ``dependency``.

    Within one request a dependency runs once and its value is shared
    (``use_cache=False`` to call it for every use). Typed as ``Any`` so that
    ``shop: Shop = Depends(current_shop)`` type-checks.
    """
    return Dependency(dependency, use_cache=use_cache)


class InjectionError(TypeError):
    """A handler or dependency signature cannot be satisfied."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """How one parameter gets its value: a built-in key, a dependency, or its default."""

    name: str
    kind: inspect._ParameterKind
    source: str  # "builtin" | "depends" | "default"
    key: str = ""
    depends: Dependency | None = None
    default: Any = None


@dataclass(frozen=True, slots=True)
class InjectionPlan:
    """The resolved parameters of a callable, computed once at registration."""

    func: Callable[..., Any]
    params: tuple[ParamSpec, ...]
    intent_schema: type[BaseModel] | None = None
    uses: frozenset[str] = field(default_factory=frozenset)


def _intent_schema(hint: Any) -> tuple[bool, type[BaseModel] | None]:
    """Return (is an Intent annotation, its pydantic payload type if any)."""
    if hint is Intent:
        return True, None
    if typing.get_origin(hint) is Intent:
        args = typing.get_args(hint)
        payload = args[0] if args else None
        if isinstance(payload, type) and issubclass(payload, BaseModel):
            return True, payload
        return True, None
    return False, None


def _injectable_key(hint: type, injectables: Mapping[type, str]) -> str | None:
    if hint in injectables:
        return injectables[hint]
    for injectable, key in injectables.items():
        try:
            if issubclass(hint, injectable):
                return key
        except TypeError:  # protocols with data members refuse issubclass()
            continue
    return None


def _name(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__qualname__", func))


def parameter_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The evaluated annotations of the parameters injection reads, and only those.

    The return annotation and the annotations of ``Depends(...)`` parameters are
    never evaluated, so a name imported only under ``TYPE_CHECKING`` there is
    fine. Annotations are evaluated in the function's module and closure. A
    parameter whose annotation cannot be evaluated is an :class:`InjectionError`
    naming it, raised when the plan is built (at start-up for handlers).
    """
    try:
        return {k: v for k, v in typing.get_type_hints(func).items() if k != "return"}
    except Exception:
        pass  # resolved one parameter at a time below, naming the one that fails
    target = inspect.unwrap(func)
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(target, "__call__", target)  # noqa: B004 - callable instances
    raw = inspect.get_annotations(target)
    namespace = dict(getattr(target, "__globals__", {}))
    code = getattr(target, "__code__", None)
    closure = getattr(target, "__closure__", None) or ()
    if code is not None:
        for name, cell in zip(code.co_freevars, closure, strict=False):
            with contextlib.suppress(ValueError):  # an empty cell
                namespace[name] = cell.cell_contents
    hints: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if isinstance(param.default, Dependency) or param.name not in raw:
            continue
        annotation = raw[param.name]
        if not isinstance(annotation, str):
            hints[param.name] = annotation
            continue
        try:
            # The function's own annotation text, evaluated as typing.get_type_hints does.
            hints[param.name] = eval(annotation, namespace)
        except Exception as exc:
            raise InjectionError(
                f"{_name(func)}(): cannot resolve the annotation {annotation!r} of parameter "
                f"{param.name!r}: {exc}. Import it at run time (not only under TYPE_CHECKING), "
                "or give the parameter a Depends(...) default."
            ) from exc
    return hints


def scan(
    func: Callable[..., Any],
    *,
    extra_injectables: Mapping[type, str] | None = None,
    positional_defaults: bool = True,
) -> InjectionPlan:
    """Build the :class:`InjectionPlan` of ``func``; raise :class:`InjectionError` early."""
    injectables = {**BUILTIN_INJECTABLES, **(extra_injectables or {})}
    hints = parameter_hints(func)
    signature = inspect.signature(func)
    specs: list[ParamSpec] = []
    schema: type[BaseModel] | None = None
    positional = list(_POSITIONAL_KEYS) if positional_defaults else []
    uses: set[str] = set()
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if isinstance(param.default, Dependency):
            specs.append(ParamSpec(param.name, param.kind, "depends", depends=param.default))
            continue
        hint = hints.get(param.name, inspect.Parameter.empty)
        is_intent, payload = _intent_schema(hint)
        key: str | None = None
        if is_intent:
            key, schema = "intent", payload or schema
        elif hint is inspect.Parameter.empty:
            key = positional.pop(0) if positional else None
        elif isinstance(hint, type):
            key = _injectable_key(hint, injectables)
        if key is not None:
            if key in positional:
                positional.remove(key)
            uses.add(key)
            specs.append(ParamSpec(param.name, param.kind, "builtin", key=key))
        elif param.default is not inspect.Parameter.empty:
            specs.append(ParamSpec(param.name, param.kind, "default", default=param.default))
        else:
            raise InjectionError(
                f"{getattr(func, '__qualname__', func)}(): cannot inject parameter "
                f"{param.name!r}; annotate it with an injectable type, give it a default, "
                f"or use Depends(...)."
            )
    return InjectionPlan(func, tuple(specs), schema, frozenset(uses))


Overrides = Mapping[Callable[..., Any], Callable[..., Any]]


def check_dependencies(
    plan: InjectionPlan,
    *,
    extra_injectables: Mapping[type, str] | None = None,
    overrides: Overrides | None = None,
    extra: tuple[Dependency, ...] = (),
    max_depth: int = MAX_DEPENDENCY_DEPTH,
) -> None:
    """Walk every ``Depends`` reachable from ``plan`` (and ``extra``); raise on the first fault.

    Each dependency's signature is scanned (so unresolvable annotations surface
    now), a cycle is an :class:`InjectionError` naming the chain (``a -> b -> a``),
    and so is a chain deeper than ``max_depth``. Meant for start-up: registration
    and the system checks call it, so no request meets these errors.
    """
    overrides = overrides or {}
    checked: set[Callable[..., Any]] = set()

    def visit(depends: Dependency, chain: list[Callable[..., Any]]) -> None:
        func = overrides.get(depends.dependency, depends.dependency)
        if func in chain:
            cycle = " -> ".join(_name(f) for f in [*chain[chain.index(func) :], func])
            raise InjectionError(f"Dependency cycle: {cycle}")
        if len(chain) >= max_depth:
            path = " -> ".join(_name(f) for f in [*chain, func])
            raise InjectionError(f"Dependencies nest deeper than {max_depth}: {path}")
        if func in checked:
            return
        sub = scan(func, extra_injectables=extra_injectables, positional_defaults=False)
        for spec in sub.params:
            if spec.depends is not None:
                visit(spec.depends, [*chain, func])
        checked.add(func)

    roots = [spec.depends for spec in plan.params if spec.depends is not None]
    for depends in [*extra, *roots]:
        visit(depends, [plan.func])


#: Runs a sync callable without blocking the event loop (the Django layer
#: passes ``sync_to_async`` so ORM calls get a proper thread).
RunSync = Callable[..., Awaitable[Any]]


async def _to_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(func, *args, **kwargs)


class Solver:
    """Resolves plans for one request, caching dependency values and owning teardowns."""

    def __init__(
        self,
        values: Mapping[str, Any],
        *,
        overrides: Overrides | None = None,
        extra_injectables: Mapping[type, str] | None = None,
        run_sync: RunSync | None = None,
    ) -> None:
        self.values = dict(values)
        self.run_sync: RunSync = run_sync or _to_thread
        self.overrides = overrides or {}
        self.extra_injectables = extra_injectables
        self.exit_stack = contextlib.AsyncExitStack()
        self._cache: dict[Callable[..., Any], Any] = {}
        self._plans: dict[Callable[..., Any], InjectionPlan] = {}
        #: Dependencies being resolved, outermost first (a cycle added by an
        #: override after start-up is an error, not a RecursionError).
        self._resolving: list[Callable[..., Any]] = []

    async def __aenter__(self) -> Solver:
        await self.exit_stack.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await self.exit_stack.__aexit__(*exc_info)

    def _plan_for(self, func: Callable[..., Any]) -> InjectionPlan:
        plan = self._plans.get(func)
        if plan is None:
            plan = scan(func, extra_injectables=self.extra_injectables, positional_defaults=False)
            self._plans[func] = plan
        return plan

    async def arguments(self, plan: InjectionPlan) -> tuple[list[Any], dict[str, Any]]:
        """Compute the positional and keyword arguments for ``plan.func``."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for spec in plan.params:
            if spec.source == "builtin":
                value = self.values.get(spec.key)
            elif spec.source == "depends":
                assert spec.depends is not None
                value = await self.resolve(spec.depends)
            else:
                value = spec.default
            if spec.kind == inspect.Parameter.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[spec.name] = value
        return args, kwargs

    async def resolve(self, depends: Dependency) -> Any:
        """Call a dependency (honouring overrides and the per-request cache)."""
        func = self.overrides.get(depends.dependency, depends.dependency)
        if depends.use_cache and func in self._cache:
            return self._cache[func]
        if func in self._resolving or len(self._resolving) >= MAX_DEPENDENCY_DEPTH:
            chain = " -> ".join(_name(f) for f in [*self._resolving, func])
            raise InjectionError(f"Dependency cycle or chain too deep: {chain}")
        self._resolving.append(func)
        try:
            args, kwargs = await self.arguments(self._plan_for(func))
        finally:
            self._resolving.pop()
        value = await self._call(func, args, kwargs)
        if depends.use_cache:
            self._cache[func] = value
        return value

    async def _call(self, func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        if inspect.isasyncgenfunction(func):
            manager = contextlib.asynccontextmanager(func)(*args, **kwargs)
            return await self.exit_stack.enter_async_context(manager)
        if inspect.isgeneratorfunction(func):
            return self.exit_stack.enter_context(contextlib.contextmanager(func)(*args, **kwargs))
        if inspect.iscoroutinefunction(func):
            return await func(*args, **kwargs)
        return await self.run_sync(func, *args, **kwargs)

    async def call(self, plan: InjectionPlan) -> Any:
        """Call ``plan.func`` with resolved arguments; sync callables go through ``run_sync``."""
        args, kwargs = await self.arguments(plan)
        if inspect.iscoroutinefunction(plan.func):
            return await plan.func(*args, **kwargs)
        result = await self.run_sync(plan.func, *args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result
