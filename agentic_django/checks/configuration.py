"""Checks every command runs: settings, endpoints, LLM backends, sandboxes, the task runner."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from ..conf import DEFAULTS, SETTINGS_NAME, TASK_RUNNERS, agentic_settings
from ..core.intent import DEFAULT_KEYWORDS
from .deploy import runner_sandboxes, sandbox_isolation
from .ids import (
    E001_UNKNOWN_SETTING,
    E002_BAD_SETTING_VALUE,
    E003_IMPORT_FAILED,
    E004_BAD_ENDPOINT,
    E005_TASK_RUNNER,
    E006_UNKNOWN_LLM_ALIAS,
    E007_BAD_LLM_BACKEND,
    E008_BAD_SANDBOX,
    E009_SHARED_CODE_CACHE,
    E010_BAD_POLICIES,
    E011_UNKNOWN_APPROVER_PERMISSION,
    E014_SHARED_CACHE_NOT_ISOLATED,
    W001_NO_ENDPOINTS,
    W002_UNPRICED_MODEL,
    W006_NO_BROKER,
)

_POSITIVE_INTS = (
    "SESSION_TTL_SECONDS",
    "MAX_INTENT_CHARS",
    "MAX_UPLOAD_BYTES",
    "MAX_RESULT_DEPTH",
    "MAX_RESULT_CHARS",
    "APPROVAL_TIMEOUT_SECONDS",
    "APPROVAL_LEASE_SECONDS",
    "STREAM_KEEPALIVE_SECONDS",
    "TRACE_RETENTION_DAYS",
    "CLEANUP_BATCH_SIZE",
)
#: Positive integers where None means "as another setting says".
_OPTIONAL_POSITIVE_INTS = ("RUN_RETENTION_DAYS", "LLM_CALL_RETENTION_DAYS")
_POSITIVE_NUMBERS = ("HEALTH_TIMEOUT_SECONDS",)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    try:
        user = agentic_settings.user_settings
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id=E002_BAD_SETTING_VALUE)]
    for key in sorted(set(user) - set(DEFAULTS)):
        errors.append(
            checks.Error(
                f"{SETTINGS_NAME}[{key!r}] is not a known setting.",
                hint=f"Known settings: {', '.join(sorted(DEFAULTS))}.",
                id=E001_UNKNOWN_SETTING,
            )
        )
    threads = user.get("PIPELINE_DB_THREADS", 0)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        errors.append(
            checks.Error(
                f"{SETTINGS_NAME}['PIPELINE_DB_THREADS'] must be an integer >= 0.",
                id=E002_BAD_SETTING_VALUE,
            )
        )
    for key in (*_POSITIVE_INTS, *_OPTIONAL_POSITIVE_INTS):
        value = user.get(key, DEFAULTS[key])
        if value is None and key in _OPTIONAL_POSITIVE_INTS:
            continue
        if not _is_int(value) or value <= 0:
            errors.append(
                checks.Error(
                    f"{SETTINGS_NAME}[{key!r}] must be a positive integer, got {value!r}.",
                    id=E002_BAD_SETTING_VALUE,
                )
            )
    for key in _POSITIVE_NUMBERS:
        value = user.get(key, DEFAULTS[key])
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            errors.append(
                checks.Error(
                    f"{SETTINGS_NAME}[{key!r}] must be a positive number, got {value!r}.",
                    id=E002_BAD_SETTING_VALUE,
                )
            )
    for key in ("DEFAULT_AUTHENTICATION_CLASSES", "DEFAULT_PERMISSION_CLASSES"):
        try:
            getattr(agentic_settings, key)
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=E003_IMPORT_FAILED))
    if user.get("HEALTH_DETAILS", DEFAULTS["HEALTH_DETAILS"]) not in ("staff", "public"):
        errors.append(
            checks.Error(
                f"{SETTINGS_NAME}['HEALTH_DETAILS'] must be 'staff' or 'public'.",
                id=E002_BAD_SETTING_VALUE,
            )
        )
    if user.get("TASK_RUNNER", DEFAULTS["TASK_RUNNER"]) not in TASK_RUNNERS:
        errors.append(
            checks.Error(
                f"{SETTINGS_NAME}['TASK_RUNNER'] must be one of {TASK_RUNNERS}.",
                id=E005_TASK_RUNNER,
            )
        )
    keywords = user.get("INTENT_KEYWORDS", {})
    try:
        if not isinstance(keywords, dict):
            raise ValueError("must be a dict")
        DEFAULT_KEYWORDS.extended(keywords)
    except (ValueError, TypeError, AttributeError) as exc:
        errors.append(
            checks.Error(
                f"{SETTINGS_NAME}['INTENT_KEYWORDS'] {exc}.",
                hint='{"read": [...], "write": [...], "analyze": [...], "execute": [...], '
                '"domains": {"word": "domain"}}',
                id=E002_BAD_SETTING_VALUE,
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_endpoints(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from pydantic import BaseModel

    from ..core.dependencies import InjectionError, check_dependencies
    from ..registry import AUTONOMY_LEVELS, agents
    from ..registry import _extra_injectables as extra_injectables

    messages: list[checks.CheckMessage] = []
    if not len(agents):
        messages.append(
            checks.Warning(
                "No agent endpoints are registered.",
                hint="Decorate handlers with @agents.agent_endpoint(...) in an app's agents.py.",
                id=W001_NO_ENDPOINTS,
            )
        )
    for endpoint in agents:
        if endpoint.autonomy_level not in AUTONOMY_LEVELS:
            messages.append(
                checks.Error(
                    f"Endpoint {endpoint.name!r}: unknown autonomy level "
                    f"{endpoint.autonomy_level!r}.",
                    id=E004_BAD_ENDPOINT,
                )
            )
        if endpoint.workflow is not None and not endpoint.workflow.steps:
            messages.append(
                checks.Error(
                    f"Endpoint {endpoint.name!r}: workflow {endpoint.workflow.name!r} "
                    "has no steps.",
                    hint="Register steps with @workflow.step(name) before the server starts.",
                    id=E004_BAD_ENDPOINT,
                )
            )
        for plan in (endpoint.injection_plan, endpoint.context_data_plan):
            if plan is None:
                continue
            try:
                # With the site's overrides, which may be set after registration.
                check_dependencies(
                    plan,
                    extra_injectables=extra_injectables(),
                    overrides=agents.dependency_overrides,
                    extra=endpoint.dependencies if plan is endpoint.injection_plan else (),
                )
            except InjectionError as exc:
                messages.append(
                    checks.Error(f"Endpoint {endpoint.name!r}: {exc}", id=E004_BAD_ENDPOINT)
                )
        model = endpoint.response_model
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            messages.append(
                checks.Error(
                    f"Endpoint {endpoint.name!r}: response_model is not a pydantic model.",
                    id=E004_BAD_ENDPOINT,
                )
            )
    return messages


@checks.register(checks.Tags.compatibility)
def check_llm_backends(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.utils.module_loading import import_string

    from ..llm import is_priced
    from ..llm.base import missing_members
    from ..registry import agents
    from ..services.llm import price_table

    messages: list[checks.CheckMessage] = []
    backends = agentic_settings.user_settings.get("LLM_BACKENDS", {})
    if not isinstance(backends, dict):
        return [
            checks.Error(
                f"{SETTINGS_NAME}['LLM_BACKENDS'] must be a dict.", id=E007_BAD_LLM_BACKEND
            )
        ]
    prices = price_table()
    for alias, config in backends.items():
        if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
            messages.append(
                checks.Error(
                    f"LLM backend {alias!r} needs a 'BACKEND' dotted path.", id=E007_BAD_LLM_BACKEND
                )
            )
            continue
        try:
            backend_class = import_string(config["BACKEND"])
        except ImportError as exc:
            messages.append(checks.Error(f"LLM backend {alias!r}: {exc}", id=E007_BAD_LLM_BACKEND))
            continue
        gaps = missing_members(backend_class)
        if gaps:
            messages.append(
                checks.Error(
                    f"LLM backend {alias!r} ({config['BACKEND']}) does not implement the "
                    f"LLMBackend protocol: {'; '.join(gaps)}.",
                    hint="A backend needs `async def generate(self, prompt)`, "
                    "`def generate_stream(self, prompt)` (an async generator) and a "
                    "`model_name`; see docs/providers.md.",
                    id=E007_BAD_LLM_BACKEND,
                )
            )
            continue
        model = config.get("OPTIONS", {}).get("model") or _default_model(backend_class)
        if model and not is_priced(model, prices):
            messages.append(
                checks.Warning(
                    f"LLM backend {alias!r}: no price is known for model {model!r}; its calls "
                    "will be recorded at a cost of 0 and budgets will not see them.",
                    hint=f"Add it to {SETTINGS_NAME}['PRICING'] as "
                    '{"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}.',
                    id=W002_UNPRICED_MODEL,
                )
            )
    wanted = {("INTENT_PARSER_LLM", agentic_settings.INTENT_PARSER_LLM)} - {
        ("INTENT_PARSER_LLM", None)
    }
    for endpoint in agents:
        uses_llm = endpoint.injection_plan is not None and "llm" in endpoint.injection_plan.uses
        if endpoint.llm is not None or uses_llm or endpoint.engine in ("codegen", "loop"):
            wanted.add((f"endpoint {endpoint.name!r}", endpoint.llm_alias))
    for where, alias in sorted(wanted):
        if alias not in backends:
            messages.append(
                checks.Error(
                    f"{where} uses the LLM alias {alias!r}, which is not configured.",
                    hint=f"Add {alias!r} to {SETTINGS_NAME}['LLM_BACKENDS'].",
                    id=E006_UNKNOWN_LLM_ALIAS,
                )
            )
    return messages


def _default_model(backend_class: Any) -> str | None:
    import inspect

    try:
        parameter = inspect.signature(backend_class).parameters.get("model")
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return str(parameter.default)


@checks.register(checks.Tags.security)
def check_harness(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Sandboxes, the code cache's sharing rule and the default policies."""
    from django.utils.module_loading import import_string

    from ..harness import Sandbox
    from ..registry import agents
    from ..services.code_cache import SCOPE_SHARED, SCOPES
    from ..services.policies import default_policies

    messages: list[checks.CheckMessage] = []
    sandboxes = agentic_settings.SANDBOX
    if not isinstance(sandboxes, dict):
        return [checks.Error(f"{SETTINGS_NAME}['SANDBOX'] must be a dict.", id=E008_BAD_SANDBOX)]
    for alias, config in sandboxes.items():
        if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
            messages.append(
                checks.Error(
                    f"Sandbox {alias!r} needs a 'BACKEND' dotted path.", id=E008_BAD_SANDBOX
                )
            )
            continue
        try:
            backend = import_string(config["BACKEND"])
        except ImportError as exc:
            messages.append(checks.Error(f"Sandbox {alias!r}: {exc}", id=E008_BAD_SANDBOX))
            continue
        if not (isinstance(backend, type) and issubclass(backend, Sandbox)):
            messages.append(
                checks.Error(
                    f"Sandbox {alias!r}: {config['BACKEND']!r} is not a Sandbox subclass.",
                    id=E008_BAD_SANDBOX,
                )
            )
    codegen = [endpoint for endpoint in agents if endpoint.codegen]
    for endpoint in codegen:
        if endpoint.sandbox not in sandboxes:
            messages.append(
                checks.Error(
                    f"Endpoint {endpoint.name!r} uses the sandbox {endpoint.sandbox!r}, which is "
                    "not configured.",
                    hint=f"Add it to {SETTINGS_NAME}['SANDBOX'].",
                    id=E008_BAD_SANDBOX,
                )
            )

    cache = agentic_settings.CODE_CACHE
    scope = cache.get("SCOPE") if isinstance(cache, dict) else None
    if scope not in SCOPES:
        messages.append(
            checks.Error(
                f"{SETTINGS_NAME}['CODE_CACHE'] must be a dict whose 'SCOPE' is one of {SCOPES}.",
                id=E002_BAD_SETTING_VALUE,
            )
        )
    elif scope == SCOPE_SHARED and cache.get("ENABLED", True):
        for endpoint in codegen:
            if endpoint.code_cache and endpoint.data_sample == "values":
                messages.append(
                    checks.Error(
                        f"Endpoint {endpoint.name!r} shows the LLM data values, so its generated "
                        "code may embed one user's data; it cannot share cached code between "
                        "users.",
                        hint="Give it data_sample='schema' or code_cache=False, or keep "
                        f"{SETTINGS_NAME}['CODE_CACHE']['SCOPE'] = 'user'.",
                        id=E009_SHARED_CODE_CACHE,
                    )
                )
        messages += _shared_cache_isolation(codegen)
    try:
        default_policies()
    except ImproperlyConfigured as exc:
        messages.append(checks.Error(str(exc), id=E010_BAD_POLICIES))
    return messages


def _shared_cache_isolation(codegen: list[Any]) -> list[checks.CheckMessage]:
    """Code cached for everyone runs on everyone's data: only in a fully isolated sandbox."""
    from django.utils.module_loading import import_string

    sandboxes = agentic_settings.SANDBOX
    shared = sorted({e.sandbox for e in codegen if e.code_cache and e.sandbox in sandboxes})
    runners = runner_sandboxes()
    messages: list[checks.CheckMessage] = []
    for alias in shared:
        if alias in runners:
            isolation = sandbox_isolation(runners[alias])
            missing = ["all (it does not start)"] if isolation is None else isolation.missing()
        else:
            try:
                backend = import_string(sandboxes[alias]["BACKEND"])
            except (ImportError, KeyError, TypeError):
                continue  # reported by E008
            missing = [] if getattr(backend, "fully_isolated", False) else ["unknown"]
        if missing:
            messages.append(
                checks.Error(
                    f"{SETTINGS_NAME}['CODE_CACHE']['SCOPE'] is 'shared' but sandbox {alias!r} "
                    f"is not fully isolated (missing: {', '.join(missing)}): a cached program "
                    "of one user would run on another's data without every protection.",
                    hint="Keep SCOPE='user', or run the sandbox where every protection of "
                    "docs/security.md is granted (a sandbox class of your own declares it "
                    "with a class attribute fully_isolated = True).",
                    id=E014_SHARED_CACHE_NOT_ISOLATED,
                )
            )
    return messages


@checks.register(checks.Tags.compatibility)
def check_broker(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``TASK_RUNNER="celery"`` sends work to a broker; Celery's default is a local RabbitMQ."""
    if agentic_settings.TASK_RUNNER != "celery":
        return []
    from celery import current_app
    from django.conf import settings

    configured = (
        getattr(settings, "CELERY_BROKER_URL", None)
        or getattr(settings, "BROKER_URL", None)
        # The app this process sends tasks with; includes the CELERY_BROKER_URL variable.
        or current_app.conf.broker_url
    )
    if configured:
        return []
    return [
        checks.Warning(
            "TASK_RUNNER is 'celery' but no Celery broker is configured: background tasks and "
            "approved actions go to Celery's default, amqp://guest@localhost//.",
            hint="Set CELERY_BROKER_URL (e.g. redis://host:6379/0) and load it into your "
            "Celery app with app.config_from_object('django.conf:settings', namespace='CELERY').",
            id=W006_NO_BROKER,
        )
    ]


def approver_entries() -> list[tuple[str, str, str, str]]:
    """``(endpoint, rule, kind, value)`` for every approver of every registered rule."""
    from ..harness.approval_rules import parse_approver
    from ..registry import agents

    entries = []
    for endpoint in agents:
        for rule in endpoint.approval.rules if endpoint.approval is not None else ():
            for entry in rule.approvers:
                kind, value = parse_approver(entry)
                entries.append((endpoint.name, rule.name, kind, value))
    return entries


def declared_permissions() -> set[str]:
    """Every ``app_label.codename`` Django creates for the installed models.

    The models' default permissions plus their ``Meta.permissions``, as
    ``migrate`` creates them, read from the app registry without the database.
    """
    from django.apps import apps
    from django.contrib.auth import get_permission_codename

    known: set[str] = set()
    for model in apps.get_models():
        opts = model._meta
        codenames = [get_permission_codename(action, opts) for action in opts.default_permissions]
        codenames += [codename for codename, _name in opts.permissions]
        known.update(f"{opts.app_label}.{codename}" for codename in codenames)
    return known


@checks.register(checks.Tags.security)
def check_approver_permissions(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A ``perm:`` approver naming no permission lets nobody but superusers decide."""
    from django.apps import apps

    if not apps.is_installed("django.contrib.auth"):
        return []
    known = declared_permissions()
    return [
        checks.Error(
            f"Endpoint {endpoint!r}, approval rule {rule!r}: the approver 'perm:{value}' "
            "names a permission no installed model declares.",
            hint="Write it 'app_label.codename' (e.g. 'agentic_django.approve_approvalrequest'); "
            "a permission created in the database only is not seen here, silence "
            f"{E011_UNKNOWN_APPROVER_PERMISSION} for it.",
            id=E011_UNKNOWN_APPROVER_PERMISSION,
        )
        for endpoint, rule, kind, value in approver_entries()
        if kind == "perm" and value not in known
    ]
