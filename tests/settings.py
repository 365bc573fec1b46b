"""Minimal settings for the test suite. ``DATABASE_URL`` switches to PostgreSQL."""

import os
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import environ

env = environ.Env()

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "agentic_django",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite://:memory:")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file in memory-backed storage, not SQLite's shared-cache in-memory database: there a
    # reader's table lock makes a concurrent writer fail at once ("database table is locked")
    # instead of waiting its busy timeout, which made streaming tests flaky on a loaded machine.
    # WAL lets readers and the writer proceed together, as in a project's file database.
    _shm = Path("/dev/shm")
    _dir = _shm if _shm.is_dir() else Path(tempfile.gettempdir())
    _test_database = _dir / f"agentic-django-tests-{os.getpid()}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(_test_database)}
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
    }
STATIC_URL = "/static/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: DRF answers 401 (with WWW-Authenticate) only when the first
        # authentication class defines an authenticate header.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

AGENTIC_DJANGO = {
    "FORBID_REAL_LLM_CALLS": True,
    # The alias of the "reports" codegen endpoint (tests/testapp/agents.py); tests serve
    # it with use_llm(mock_llm, "reports"). "default" stays unconfigured.
    "LLM_BACKENDS": {"reports": {"BACKEND": "agentic_django.llm.MockBackend"}},
    # "inline" for the suite; Celery workers of the integration tests get "celery".
    "TASK_RUNNER": env.str("AGENTIC_TASK_RUNNER", default="inline"),
    # Short in the integration test that kills a Celery worker mid-execution.
    "APPROVAL_LEASE_SECONDS": env.int("AGENTIC_APPROVAL_LEASE_SECONDS", default=300),
}
if find_spec("mcp") is not None:
    # The MCP server written for the tests, over stdio, and the scripted model of the
    # endpoint using it (tests/testapp/mcp_agents.py), configured here so that Celery
    # workers have them too.
    AGENTIC_DJANGO["MCP_SERVERS"] = {
        "test-tools": {
            "COMMAND": [sys.executable, "-m", "tests.mcp.servers"],
            "CWD": str(Path(__file__).resolve().parent.parent),
        }
    }
    AGENTIC_DJANGO["LLM_BACKENDS"]["mcp-loop"] = {
        "BACKEND": "tests.testapp.mcp_agents.DeletingBackend"
    }

# Celery (tests.celery_app): TASK_RUNNER stays "inline" unless a test switches it;
# scripts/integration.sh points the broker at a loopback Redis for real workers.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")

# Streams fan out in memory in the test process (each test has its own event loop,
# which channels_redis's per-loop connections do not survive); the daphne processes
# of the integration tests share Redis (tests/integration/test_streams_daphne.py).
if env.str("AGENTIC_CHANNEL_LAYER_REDIS", default=""):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": env.str("AGENTIC_CHANNEL_LAYER_REDIS"),
                        # redis-py 8 times reads out after 5 s, as long as the layer's
                        # blocking receive: allow longer (channels_redis issue 422).
                        "socket_timeout": 30,
                        "socket_connect_timeout": 5,
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_TASK_IGNORE_RESULT = True

# The project schema with the agent API merged in (optional extra "openapi").
if find_spec("drf_spectacular") is not None:
    INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
    SPECTACULAR_SETTINGS = {
        "TITLE": "Test project",
        "OAS_VERSION": "3.1.0",
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "agentic_django.api.spectacular.merge_agent_paths",
        ],
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
