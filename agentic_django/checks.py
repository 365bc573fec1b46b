"""System checks for settings and registered endpoints.

Ids are stable and documented in ``docs/checks.md``.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .conf import DEFAULTS, SETTINGS_NAME, TASK_RUNNERS, agentic_settings

E001_UNKNOWN_SETTING = "agentic_django.E001"
E002_BAD_SETTING_VALUE = "agentic_django.E002"
E003_IMPORT_FAILED = "agentic_django.E003"
E004_BAD_ENDPOINT = "agentic_django.E004"
E005_TASK_RUNNER = "agentic_django.E005"
W001_NO_ENDPOINTS = "agentic_django.W001"

_POSITIVE_INTS = (
    "SESSION_TTL_SECONDS",
    "MAX_INTENT_CHARS",
    "MAX_UPLOAD_BYTES",
    "APPROVAL_TIMEOUT_SECONDS",
    "STREAM_KEEPALIVE_SECONDS",
    "TRACE_RETENTION_DAYS",
    "CLEANUP_BATCH_SIZE",
)


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
    for key in _POSITIVE_INTS:
        value = user.get(key, DEFAULTS[key])
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            errors.append(
                checks.Error(
                    f"{SETTINGS_NAME}[{key!r}] must be a positive integer, got {value!r}.",
                    id=E002_BAD_SETTING_VALUE,
                )
            )
    for key in ("DEFAULT_AUTHENTICATION_CLASSES", "DEFAULT_PERMISSION_CLASSES"):
        try:
            getattr(agentic_settings, key)
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=E003_IMPORT_FAILED))
    if user.get("TASK_RUNNER", DEFAULTS["TASK_RUNNER"]) not in TASK_RUNNERS:
        errors.append(
            checks.Error(
                f"{SETTINGS_NAME}['TASK_RUNNER'] must be one of {TASK_RUNNERS}.",
                id=E005_TASK_RUNNER,
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_endpoints(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from pydantic import BaseModel

    from .registry import AUTONOMY_LEVELS, agents

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
        model = endpoint.response_model
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            messages.append(
                checks.Error(
                    f"Endpoint {endpoint.name!r}: response_model is not a pydantic model.",
                    id=E004_BAD_ENDPOINT,
                )
            )
    return messages
