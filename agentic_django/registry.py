"""The agent registry: :class:`AgentSite`, :class:`AgentRouter` and endpoint definitions.

``agents`` is the default site; ``<app>/agents.py`` modules register on it and
are imported by ``AppConfig.ready()`` the way ``admin.py`` modules are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel

from .core.dependencies import (
    Dependency,
    InjectionError,
    InjectionPlan,
    check_dependencies,
    scan,
)
from .core.intent import IntentScope
from .harness import ApprovalWorkflow, AutonomyPolicy, Policy
from .runtime import AgentWorkflow, LoopConfig, ToolRegistry

AUTONOMY_LEVELS = ("auto", "supervised", "manual")

#: Endpoint names must fit in one URL segment and not shadow the API's own routes.
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9_][\w.-]*$")
RESERVED_NAMES = frozenset({"health", "openapi.json", "approvals", "runs", "mcp"})

DATA_SAMPLES = ("values", "schema")

STREAM_TRANSPORTS = ("sse", "ndjson")
DISCONNECT_POLICIES = ("continue", "cancel")


class AlreadyRegistered(ImproperlyConfigured):
    """An endpoint name is registered twice."""


class NotRegistered(LookupError):
    """No endpoint with that name is registered."""


def _extra_injectables() -> dict[type, str]:
    """Web-layer types injected by annotation (the request objects)."""
    from django.http import HttpRequest
    from rest_framework.request import Request

    from .llm import LLMBackend
    from .streaming import AgentStream

    return {
        Request: "request",
        HttpRequest: "request",
        LLMBackend: "llm",
        AgentStream: "stream",
    }


@dataclass(frozen=True)
class AgentEndpointDef:
    """Everything the pipeline needs to know about one endpoint."""

    name: str
    handler: Callable[..., Any]
    description: str = ""
    intent_scope: IntentScope | None = None
    autonomy_level: str = "supervised"
    response_model: type[BaseModel] | None = None
    dependencies: tuple[Dependency, ...] = ()
    permission_classes: tuple[type, ...] | None = None
    authentication_classes: tuple[type, ...] | None = None
    throttle_classes: tuple[type, ...] | None = None
    tags: tuple[str, ...] = ()
    llm: str | None = None
    policies: tuple[Policy, ...] = ()
    sandbox: str = "default"
    codegen: bool = False
    context_data: Callable[..., Any] | None = field(default=None, compare=False)
    data_sample: str = "values"
    code_cache: bool = True
    tools: ToolRegistry | None = field(default=None, compare=False)
    loop_config: LoopConfig | None = None
    workflow: AgentWorkflow[Any] | None = field(default=None, compare=False)
    approval: ApprovalWorkflow | None = field(default=None, compare=False)
    #: The default transport of ``POST <name>/stream/`` ("sse" or "ndjson"); None: not streamed.
    streaming: str | None = None
    #: What a client going away does to its run: "continue" (the default) or "cancel".
    on_disconnect: str = "continue"
    autonomy: AutonomyPolicy | None = None
    #: Served as a tool of the MCP endpoint: True, False, or None to follow
    #: ``AGENTIC_DJANGO["MCP"]``.
    mcp: bool | None = None
    #: The provider model to ask for instead of the backend's own (an admin override).
    llm_model: str = ""
    #: Every action waits for a person: generated code, each tool call, each workflow
    #: step, each ``confirm()`` on a stream (the admin's "manual" autonomy override).
    approve_every_action: bool = False
    #: The admin-managed settings merged into this definition for one request
    #: (``services.agents.AgentSettings``); None for the definition as registered.
    agent_settings: Any = field(default=None, compare=False)
    injection_plan: InjectionPlan | None = field(default=None, compare=False)
    context_data_plan: InjectionPlan | None = field(default=None, compare=False)

    @property
    def llm_alias(self) -> str:
        return self.llm or "default"

    @property
    def engine(self) -> str:
        """What runs a request: ``workflow``, ``loop``, ``codegen`` or ``handler``.

        ``autonomy_level="manual"`` always means the handler alone.
        """
        if self.autonomy_level == "manual":
            return "handler"
        if self.workflow is not None:
            return "workflow"
        if self.tools is not None:
            return "loop"
        if self.codegen:
            return "codegen"
        return "handler"

    @property
    def intent_schema(self) -> type[BaseModel] | None:
        """The pydantic payload type of a handler annotated ``Intent[T]``."""
        return self.injection_plan.intent_schema if self.injection_plan else None


def _check_classes(value: Sequence[type] | None, option: str, name: str) -> tuple[type, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not all(isinstance(item, type) for item in value):
        raise ImproperlyConfigured(f"Agent endpoint {name!r}: {option} must be a list of classes.")
    return tuple(value)


def build_endpoint(
    name: str,
    handler: Callable[..., Any],
    *,
    description: str = "",
    intent_scope: IntentScope | None = None,
    autonomy_level: str = "supervised",
    response_model: type[BaseModel] | None = None,
    dependencies: Sequence[Dependency] | None = None,
    permission_classes: Sequence[type] | None = None,
    authentication_classes: Sequence[type] | None = None,
    throttle_classes: Sequence[type] | None = None,
    tags: Sequence[str] = (),
    llm: str | None = None,
    policies: Sequence[Policy] = (),
    sandbox: str = "default",
    codegen: bool = False,
    context_data: Callable[..., Any] | None = None,
    data_sample: str = "values",
    code_cache: bool = True,
    tools: Sequence[Any] | ToolRegistry | None = None,
    loop_config: LoopConfig | None = None,
    workflow: AgentWorkflow[Any] | None = None,
    approval: ApprovalWorkflow | None = None,
    streaming: str | bool | None = None,
    on_disconnect: str = "continue",
    autonomy: AutonomyPolicy | None = None,
    mcp: bool | None = None,
) -> AgentEndpointDef:
    """Validate the options of one endpoint and build its definition."""
    if not isinstance(name, str) or not ENDPOINT_NAME.match(name) or name in RESERVED_NAMES:
        raise ImproperlyConfigured(
            f"Invalid agent endpoint name {name!r}: use letters, digits, '_', '.' and '-' "
            f"and none of {sorted(RESERVED_NAMES)}."
        )
    transport = _check_streaming(name, streaming, on_disconnect, autonomy)
    if autonomy is not None:
        autonomy_level = autonomy.start.value
    if autonomy_level not in AUTONOMY_LEVELS:
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: autonomy_level must be one of {AUTONOMY_LEVELS}, "
            f"got {autonomy_level!r}."
        )
    if intent_scope is not None and not isinstance(intent_scope, IntentScope):
        raise ImproperlyConfigured(f"Agent endpoint {name!r}: intent_scope must be an IntentScope.")
    if response_model is not None and not (
        isinstance(response_model, type) and issubclass(response_model, BaseModel)
    ):
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: response_model must be a pydantic BaseModel subclass."
        )
    if llm is not None and (not isinstance(llm, str) or not llm):
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: llm must be the alias of a backend in "
            "AGENTIC_DJANGO['LLM_BACKENDS'], such as 'default'."
        )
    deps = tuple(dependencies or ())
    if not all(isinstance(dep, Dependency) for dep in deps):
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: dependencies must be a list of Depends(...)."
        )
    if not callable(handler):
        raise ImproperlyConfigured(f"Agent endpoint {name!r}: the handler is not callable.")
    if mcp is not None and not isinstance(mcp, bool):
        raise ImproperlyConfigured(f"Agent endpoint {name!r}: mcp must be True, False or None.")
    if approval is not None and not isinstance(approval, ApprovalWorkflow):
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: approval must be an ApprovalWorkflow(rules=[...])."
        )
    engine_options = _check_engine_options(
        name,
        policies=policies,
        sandbox=sandbox,
        codegen=codegen,
        context_data=context_data,
        data_sample=data_sample,
        tools=tools,
        loop_config=loop_config,
        workflow=workflow,
    )
    try:
        plan = scan(handler, extra_injectables=_extra_injectables())
        data_plan = (
            scan(context_data, extra_injectables=_extra_injectables()) if context_data else None
        )
        check_dependencies(plan, extra_injectables=_extra_injectables(), extra=deps)
        if data_plan is not None:
            check_dependencies(data_plan, extra_injectables=_extra_injectables())
    except InjectionError as exc:
        raise ImproperlyConfigured(f"Agent endpoint {name!r}: {exc}") from exc
    if transport is None and any("stream" in p.uses for p in (plan, data_plan) if p):
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: the handler takes an AgentStream; declare the "
            "endpoint with streaming='sse' (or 'ndjson')."
        )
    return AgentEndpointDef(
        name=name,
        handler=handler,
        description=description or (handler.__doc__ or "").strip().split("\n")[0],
        intent_scope=intent_scope,
        autonomy_level=autonomy_level,
        response_model=response_model,
        dependencies=deps,
        permission_classes=_check_classes(permission_classes, "permission_classes", name),
        authentication_classes=_check_classes(
            authentication_classes, "authentication_classes", name
        ),
        throttle_classes=_check_classes(throttle_classes, "throttle_classes", name),
        tags=tuple(tags),
        llm=llm,
        code_cache=bool(code_cache),
        context_data=context_data,
        data_sample=data_sample,
        injection_plan=plan,
        context_data_plan=data_plan,
        approval=approval,
        streaming=transport,
        on_disconnect=on_disconnect,
        autonomy=autonomy,
        mcp=mcp,
        **engine_options,
    )


def _check_streaming(
    name: str, streaming: str | bool | None, on_disconnect: str, autonomy: Any
) -> str | None:
    """The endpoint's stream transport (``streaming=True`` means SSE), validated."""
    if streaming is True:
        streaming = "sse"
    if streaming is False:
        streaming = None
    if streaming is not None and streaming not in STREAM_TRANSPORTS:
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: streaming must be one of {STREAM_TRANSPORTS}, "
            f"got {streaming!r}."
        )
    if on_disconnect not in DISCONNECT_POLICIES:
        raise ImproperlyConfigured(
            f"Agent endpoint {name!r}: on_disconnect must be one of {DISCONNECT_POLICIES}."
        )
    if autonomy is not None and not isinstance(autonomy, AutonomyPolicy):
        raise ImproperlyConfigured(f"Agent endpoint {name!r}: autonomy must be an AutonomyPolicy.")
    return streaming


def _check_engine_options(
    name: str,
    *,
    policies: Sequence[Policy],
    sandbox: str,
    codegen: bool,
    context_data: Callable[..., Any] | None,
    data_sample: str,
    tools: Sequence[Any] | ToolRegistry | None,
    loop_config: LoopConfig | None,
    workflow: AgentWorkflow[Any] | None,
) -> dict[str, Any]:
    """Validate the options choosing and configuring the execution engine."""

    def fail(message: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"Agent endpoint {name!r}: {message}")

    chosen = [
        option
        for option, value in (("codegen", codegen), ("tools", tools), ("workflow", workflow))
        if value not in (None, False)
    ]
    if len(chosen) > 1:
        raise fail(f"choose one of codegen, tools and workflow, not {' and '.join(chosen)}.")
    if isinstance(policies, Policy) or not all(isinstance(p, Policy) for p in policies):
        raise fail("policies must be a list of Policy instances.")
    if not isinstance(sandbox, str) or not sandbox:
        raise fail("sandbox must be the alias of a sandbox in AGENTIC_DJANGO['SANDBOX'].")
    if context_data is not None and not callable(context_data):
        raise fail("context_data must be a callable returning the data for generated code.")
    if context_data is not None and not codegen:
        raise fail("context_data only applies to codegen=True endpoints.")
    if data_sample not in DATA_SAMPLES:
        raise fail(f"data_sample must be one of {DATA_SAMPLES}, got {data_sample!r}.")
    if loop_config is not None and not isinstance(loop_config, LoopConfig):
        raise fail("loop_config must be a LoopConfig.")
    if loop_config is not None and tools is None:
        raise fail("loop_config only applies to endpoints with tools=.")
    if workflow is not None and not isinstance(workflow, AgentWorkflow):
        raise fail("workflow must be an AgentWorkflow.")
    registry: ToolRegistry | None = None
    if tools is not None:
        try:
            registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        except (TypeError, ValueError) as exc:
            raise fail(f"tools: {exc}") from exc
        if not len(registry):
            raise fail("tools= needs at least one tool.")
    return {
        "policies": tuple(policies),
        "sandbox": sandbox,
        "codegen": bool(codegen),
        "tools": registry,
        "loop_config": loop_config,
        "workflow": workflow,
    }


class AgentRouter:
    """A group of endpoints sharing a name prefix, tags and DRF policy classes."""

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        permission_classes: Sequence[type] | None = None,
        authentication_classes: Sequence[type] | None = None,
        throttle_classes: Sequence[type] | None = None,
    ) -> None:
        self.prefix = prefix
        self.tags = tuple(tags)
        self.permission_classes = permission_classes
        self.authentication_classes = authentication_classes
        self.throttle_classes = throttle_classes
        self._endpoints: dict[str, AgentEndpointDef] = {}

    @property
    def endpoints(self) -> dict[str, AgentEndpointDef]:
        return dict(self._endpoints)

    def agent_endpoint(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """Register the decorated handler on this router (same options as the site)."""
        full_name = f"{self.prefix}.{name}" if self.prefix else name

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            if full_name in self._endpoints:
                raise AlreadyRegistered(f"Agent endpoint {full_name!r} is already registered.")
            default_tags = self.tags or ((self.prefix,) if self.prefix else ())
            options.setdefault("tags", default_tags)
            for option in ("permission_classes", "authentication_classes", "throttle_classes"):
                if options.get(option) is None:
                    options[option] = getattr(self, option)
            self._endpoints[full_name] = build_endpoint(full_name, handler, **options)
            return handler

        return decorator


class AgentSite:
    """A registry of agent endpoints (the default one is :data:`agents`)."""

    def __init__(self, name: str = "agents") -> None:
        self.name = name
        self._registry: dict[str, AgentEndpointDef] = {}
        #: Maps a dependency callable to its replacement (for tests).
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._registry

    def __iter__(self) -> Iterator[AgentEndpointDef]:
        return iter(self._registry.values())

    def __len__(self) -> int:
        return len(self._registry)

    def __bool__(self) -> bool:
        # A registry is a registry even when empty. Django's ``autodiscover_modules``
        # tests ``if register_to:``; a falsy empty site made it skip its snapshot and
        # turn any error in an ``agents.py`` into an ``UnboundLocalError`` of its own.
        return True

    @property
    def endpoints(self) -> dict[str, AgentEndpointDef]:
        return dict(self._registry)

    def register(self, endpoint: AgentEndpointDef) -> None:
        if endpoint.name in self._registry:
            raise AlreadyRegistered(f"Agent endpoint {endpoint.name!r} is already registered.")
        self._registry[endpoint.name] = endpoint

    def unregister(self, name: str) -> None:
        if self._registry.pop(name, None) is None:
            raise NotRegistered(name)

    def get(self, name: str) -> AgentEndpointDef:
        try:
            return self._registry[name]
        except KeyError:
            raise NotRegistered(name) from None

    def agent_endpoint(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """Decorator registering a handler as the endpoint ``name``.

        Options: ``description``, ``intent_scope``, ``autonomy_level``,
        ``response_model``, ``dependencies``, ``permission_classes``,
        ``authentication_classes``, ``throttle_classes``, ``tags``, ``llm``
        (the backend alias; defaults to ``"default"``), ``policies``, and the
        execution engine: ``codegen=True`` (with ``context_data``, ``data_sample``,
        ``code_cache``, ``sandbox``), ``tools=[...]`` (with ``loop_config``) or
        ``workflow=``; ``approval=ApprovalWorkflow(...)`` for who approves what;
        ``mcp=True`` to serve it to MCP clients. See ``docs/engines.md``,
        ``docs/approvals.md`` and ``docs/mcp.md``.
        """

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.register(build_endpoint(name, handler, **options))
            return handler

        return decorator

    def include_router(self, router: AgentRouter, *, prefix: str = "") -> None:
        """Register every endpoint of ``router``, optionally under an extra name prefix."""
        for name, endpoint in router.endpoints.items():
            full_name = f"{prefix}.{name}" if prefix else name
            self.register(replace(endpoint, name=full_name))

    async def process_intent(
        self,
        raw: str,
        *,
        endpoint_name: str | None = None,
        user: Any = None,
        auth_user: Any = None,
        session_id: str | None = None,
        files: Any = None,
        params: BaseModel | None = None,
        request: Any = None,
    ) -> Any:
        """Run the full pipeline for ``raw`` from Python, as the HTTP JSON route does.

        ``endpoint_name`` may be left out when a single endpoint is registered.
        ``auth_user`` (the reference's name) is accepted for ``user``: a Django
        user, or an object whose ``username`` or ``user_id`` names one. Returns an
        :class:`~agentic_django.core.response.AgentResponse` (or the handler's
        ``HttpResponse``); framework errors are recorded and re-raised.

        A ``streaming=`` endpoint runs as a stream to its end (its events stored,
        followable by run id); when it asks a person for approval, the answer is a
        ``pending_approval`` response at once, with the question and the run id in
        ``approval_request``, while the run waits for the decision.
        """
        from .services.pipeline import process_intent
        from .services.runs import run_and_wait

        endpoint = self.endpoint_for(endpoint_name)
        if auth_user is not None:
            if user is not None and user is not auth_user:
                raise TypeError("Pass either user or auth_user, not both.")
            user = await _django_user(auth_user)
        arguments = {
            "user": user,
            "session_id": session_id,
            "files": files,
            "params": params,
            "request": request,
        }
        if endpoint.streaming is not None:
            awaited = await run_and_wait(self, endpoint, raw, **arguments)
            if awaited.approval is None and awaited.outcome is not None:
                return awaited.outcome.response_or_raise()
            return awaited.response()
        outcome = await process_intent(self, endpoint, raw, **arguments)
        return outcome.response_or_raise()

    def endpoint_for(self, name: str | None) -> AgentEndpointDef:
        """The endpoint ``name``; without a name, the only registered endpoint."""
        if name is not None:
            return self.get(name)
        if len(self._registry) == 1:
            return next(iter(self._registry.values()))
        names = ", ".join(sorted(self._registry)) or "none are registered"
        raise NotRegistered(
            f"endpoint_name is required unless exactly one endpoint is registered ({names})."
        )


async def _django_user(auth_user: Any) -> Any:
    """The Django user an ``auth_user`` stands for (itself when it is one)."""
    if hasattr(auth_user, "is_authenticated"):
        return auth_user
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    model = get_user_model()
    username = getattr(auth_user, "username", None)
    lookup = (
        {model.USERNAME_FIELD: username}
        if username
        else {"pk": getattr(auth_user, "user_id", None)}
    )
    user = await sync_to_async(model._default_manager.filter(**lookup).first)()
    if user is None:
        raise NotRegistered(f"auth_user {auth_user!r} matches no user.")
    return user


async def process_intent(raw: str, **kwargs: Any) -> Any:
    """``agents.process_intent(...)`` on the default site (see :meth:`AgentSite.process_intent`)."""
    return await agents.process_intent(raw, **kwargs)


agents = AgentSite()
