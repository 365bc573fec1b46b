"""The ``AGENTIC_DJANGO`` settings dict, read through :data:`agentic_settings`.

Modelled on DRF's ``api_settings``: defaults for every key, dotted import
strings resolved on first access, and a reset on ``setting_changed`` so
``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

SETTINGS_NAME = "AGENTIC_DJANGO"

DEFAULTS: dict[str, Any] = {
    # LLM backends by alias, like CACHES: {"default": {"BACKEND": "...", "OPTIONS": {...}}}.
    "LLM_BACKENDS": {},
    # Alias used to parse intents; None means keyword parsing.
    "INTENT_PARSER_LLM": None,
    # Words added to the keyword parser's tables (English and Japanese built in):
    # {"read": [...], "write": [...], "analyze": [...], "execute": [...],
    #  "domains": {"word": "domain"}}.
    "INTENT_KEYWORDS": {},
    # Raise instead of calling a real provider (turned on in test settings).
    "FORBID_REAL_LLM_CALLS": False,
    # USD per million tokens, merged over the built-in table: {"model": {"input": x, "output": y}}.
    "PRICING": {},
    # Policies applied to every endpoint (instances or dotted paths to instances).
    "DEFAULT_POLICIES": [],
    # Sandboxes for generated code by alias, like LLM_BACKENDS; endpoints pick one
    # with sandbox="alias". Built on first use, one per process.
    "SANDBOX": {
        "default": {
            "BACKEND": "agentic_django.harness.ForkServerSandbox",
            "OPTIONS": {"pool_size": 2},
        }
    },
    # Cache of generated code that ran successfully. SCOPE "user" keeps each user's
    # entries apart; "shared" is only allowed for endpoints whose prompt shows the
    # LLM the data's shape and no values (data_sample="schema").
    "CODE_CACHE": {
        "ENABLED": True,
        "SCOPE": "user",
        "TTL_SECONDS": 24 * 60 * 60,
        "MAX_ENTRIES": 1000,
    },
    "SESSION_TTL_SECONDS": 30 * 60,
    "MAX_INTENT_CHARS": 4000,
    "MAX_UPLOAD_BYTES": 10 * 1024 * 1024,
    # Results (and JSON request bodies) nested deeper, or larger, are refused with a code.
    "MAX_RESULT_DEPTH": 64,
    "MAX_RESULT_CHARS": 5 * 1024 * 1024,
    # "inline": AgentTasks run in process after the response, and approved actions
    # run in the request that approved them. "celery": both go to Celery workers.
    "TASK_RUNNER": "inline",
    "APPROVAL_TIMEOUT_SECONDS": 3600,
    # The lease on a worker's claim of an approved action, renewed while it runs;
    # once a dead worker's lease lapses, another worker may take the action over.
    "APPROVAL_LEASE_SECONDS": 300,
    "STREAM_KEEPALIVE_SECONDS": 15,
    # How often a follower reads the database when the channel layer cannot tell it
    # about new events (no layer, or the in-memory one, which stays in its process).
    "STREAM_POLL_SECONDS": 0.25,
    # Events stored per INSERT while a run emits faster than the database writes.
    "STREAM_EVENT_BATCH": 200,
    # A live run shows a sign of life this often; agentic_recover_runs fails runs
    # silent for longer than RUN_STALE_SECONDS (their process died).
    "RUN_HEARTBEAT_SECONDS": 30,
    "RUN_STALE_SECONDS": 120,
    # A cache alias (of Django's CACHES) holding each agent's admin-managed settings,
    # invalidated when they change. It must be shared by every process (Redis,
    # Memcached, the database cache); None reads the row once per request instead.
    "AGENT_SETTINGS_CACHE": None,
    # Retention applied by agentic_cleanup. Finished runs (with their events) and LLM
    # calls made outside any trace follow TRACE_RETENTION_DAYS unless set (None).
    # An LLM call recorded on a trace always goes with its trace.
    "TRACE_RETENTION_DAYS": 90,
    "RUN_RETENTION_DAYS": None,
    "LLM_CALL_RETENTION_DAYS": None,
    "CLEANUP_BATCH_SIZE": 1000,
    # How long each check of the health endpoint (database, channel layer, broker,
    # sandbox) may take; they run at once, so this bounds the whole report.
    "HEALTH_TIMEOUT_SECONDS": 2,
    # "staff": anonymous callers of /agents/health/ get the status only; "public": details too.
    "HEALTH_DETAILS": "staff",
    # 0: the pipeline's ORM work runs in Django's per-request thread (a new DB
    # connection per request under ASGI). N > 0: on a shared pool of N threads
    # whose connections persist for CONN_MAX_AGE.
    "PIPELINE_DB_THREADS": 0,
    # DRF policy classes for agent views; None falls back to REST_FRAMEWORK's defaults.
    "DEFAULT_AUTHENTICATION_CLASSES": None,
    # Not DRF's AllowAny: agents spend money and read data, so a caller must be
    # authenticated unless an endpoint (or this setting) says otherwise explicitly.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": None,
    # Serve every agent endpoint as a tool of the MCP endpoint (``<prefix>mcp/``); an
    # endpoint's own ``mcp=True`` or ``mcp=False`` wins. Needs the ``mcp`` extra.
    "MCP": False,
    # MCP servers whose tools agents may use, by alias like LLM_BACKENDS:
    # {"alias": {"COMMAND": ["python", "-m", "srv"]} or {"URL": "https://..."}, ...}.
    # See docs/mcp.md for every key.
    "MCP_SERVERS": {},
    # GET /agents/metrics/ (extra "prometheus"): staff may read it; a scraper presents
    # "Authorization: Bearer <METRICS_TOKEN>"; METRICS_PUBLIC opens it to anyone.
    "METRICS_TOKEN": None,
    "METRICS_PUBLIC": False,
    # Link from a trace's admin page to its span tree, e.g.
    # "https://jaeger.internal/trace/{trace_id}" ({span_id} is available too).
    "OTEL_TRACE_URL": "",
    # Put each LLM call's prompt and completion on its span (gen_ai.input.messages,
    # gen_ai.output.messages, ...), personal data redacted by the PII policy.
    # Off: spans carry no prompt or completion text.
    "OTEL_RECORD_CONTENT": False,
    "API_TITLE": "Agent endpoints",
    "API_VERSION": "1.0.0",
}

#: Keys whose values are dotted paths (or lists of them) to import.
IMPORT_STRINGS = frozenset(
    {
        "DEFAULT_AUTHENTICATION_CLASSES",
        "DEFAULT_PERMISSION_CLASSES",
        "DEFAULT_THROTTLE_CLASSES",
    }
)

#: Dict settings whose missing keys fall back to the default's keys.
MERGED_DICTS = frozenset({"CODE_CACHE"})

TASK_RUNNERS = ("inline", "celery")


def _import(value: Any, key: str) -> Any:
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{SETTINGS_NAME}[{key!r}]: could not import {value!r}: {exc}"
            ) from exc
    if isinstance(value, list | tuple):
        return [_import(item, key) for item in value]
    return value


class AgenticSettings:
    """Attribute access to ``settings.AGENTIC_DJANGO`` with defaults and imports."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, SETTINGS_NAME, {})
        if not isinstance(value, dict):
            raise ImproperlyConfigured(f"{SETTINGS_NAME} must be a dict.")
        return value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key not in DEFAULTS:
            raise AttributeError(f"Invalid {SETTINGS_NAME} setting: {key!r}")
        if key in self._cache:
            return self._cache[key]
        value = self.user_settings.get(key, DEFAULTS[key])
        if key in MERGED_DICTS and isinstance(value, dict):
            value = {**DEFAULTS[key], **value}
        if key in IMPORT_STRINGS and value is not None:
            value = _import(value, key)
        self._cache[key] = value
        return value

    def reload(self) -> None:
        self._cache.clear()


agentic_settings = AgenticSettings()

#: Callbacks run when AGENTIC_DJANGO changes (other modules drop their caches).
_reload_hooks: list[Any] = []


def on_reload(func: Any) -> Any:
    """Register ``func`` to run whenever the settings are reloaded."""
    _reload_hooks.append(func)
    return func


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTINGS_NAME, "REST_FRAMEWORK"):
        agentic_settings.reload()
        for hook in _reload_hooks:
            hook()


setting_changed.connect(_settings_changed)
