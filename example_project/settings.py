"""Settings of the example project, read from the environment with django-environ.

The defaults give a working demo on a fresh machine (SQLite under ``var/``, no
external services); ``DATABASE_URL`` switches to PostgreSQL.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# Off unless asked for (DEBUG=true make demo): a copied demo must not show tracebacks,
# settings and SQL to whoever reaches it.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-only-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Production without a proxy serving STATIC_ROOT: WhiteNoise (the "serve" extra) serves the
# collected files from the app processes (docs/deploy.md).
WHITENOISE = env.bool("WHITENOISE", default=False)
# Daphne does not serve static files; the ASGI app does it itself unless a web server (or
# WhiteNoise) does.
SERVE_STATIC = env.bool("SERVE_STATIC", default=not WHITENOISE)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "agentic_django",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
if WHITENOISE:
    # Right after SecurityMiddleware, as WhiteNoise asks: files answer before sessions load.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'demo.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock when a
    # transaction starts, so concurrent requests under daphne wait for it instead of
    # failing with "database is locked" when a read transaction tries to upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # Keep connections between requests; the pipeline's ORM work runs on one shared
    # thread (AGENTIC_DJANGO["PIPELINE_DB_THREADS"] below), so it reuses its connection
    # instead of opening and closing one per request.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    PIPELINE_DB_THREADS = 1
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_POOL", default=find_spec("psycopg_pool") is not None
):
    # Under ASGI every request runs its ORM calls in a thread of its own, so without a
    # pool each request opens (and closes) a new PostgreSQL connection.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 4, "max_size": 32}
    PIPELINE_DB_THREADS = 0
else:
    PIPELINE_DB_THREADS = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns a missing login into 401, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Every shop endpoint calls an LLM: a per-user budget of requests (shop/throttling.py).
    "DEFAULT_THROTTLE_RATES": {"llm": env.str("LLM_THROTTLE_RATE", default="30/minute")},
}

# The LLM used to parse intents: a stand-in by default (no API key needed), or a real
# provider with AGENTIC_LLM=anthropic|openai|gemini and the provider's API key set.
LLM_CHOICES = {
    "demo": {"BACKEND": "example_project.shop.demo_llm.ShopDemoBackend"},
    "anthropic": {"BACKEND": "agentic_django.llm.AnthropicBackend"},
    "openai": {"BACKEND": "agentic_django.llm.OpenAIBackend"},
    "gemini": {"BACKEND": "agentic_django.llm.GeminiBackend"},
}
LLM_CHOICE = env.str("AGENTIC_LLM", default="demo")

AGENTIC_DJANGO = {
    "LLM_BACKENDS": {"default": LLM_CHOICES[LLM_CHOICE]},
    "DEFAULT_THROTTLE_CLASSES": ["example_project.shop.throttling.LLMUserRateThrottle"],
    "INTENT_PARSER_LLM": "default",
    "SESSION_TTL_SECONDS": env.int("AGENTIC_SESSION_TTL_SECONDS", default=30 * 60),
    # Background tasks and approved actions go to Celery workers ("inline" runs them
    # in the web process instead, with no worker needed).
    "TASK_RUNNER": env.str("AGENTIC_TASK_RUNNER", default="celery"),
    "PIPELINE_DB_THREADS": env.int("AGENTIC_PIPELINE_DB_THREADS", default=PIPELINE_DB_THREADS),
    "APPROVAL_LEASE_SECONDS": env.int("AGENTIC_APPROVAL_LEASE_SECONDS", default=300),
    # The demo backend reports its calls as model "mock", free in the built-in price
    # table. Priced here like a mid-size hosted model (USD per million tokens, as
    # claude-sonnet-4-6), so the demo's usage dashboard and budgets see real-looking costs.
    "PRICING": {"mock": {"input": 3.0, "output": 15.0}},
}
if find_spec("mcp") is not None:
    # The carrier's MCP server the ``delivery`` agent calls (shop/shipping_mcp.py), run
    # as a subprocess of each process that uses it, spoken to over stdio.
    AGENTIC_DJANGO["MCP_SERVERS"] = {
        "shipping": {
            "COMMAND": [sys.executable, "-m", "example_project.shop.shipping_mcp"],
            "CWD": str(BASE_DIR),
            "TIMEOUT_SECONDS": 10,
        }
    }

# Celery: the filesystem broker by default (no service to run), Redis with
# CELERY_BROKER_URL=redis://127.0.0.1:6379/0. Results are not kept: approvals store theirs.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "celery-broker")))
    for _folder in ("processed", "control"):
        (_queue / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "processed_folder": str(_queue / "processed"),
        "control_folder": str(_queue / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# How often beat sweeps approvals (expiry, re-queueing): a minute is plenty in production.
_approval_sweep = env.float("AGENTIC_APPROVAL_SWEEP_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "agentic-expire-approvals": {
        "task": "agentic_django.expire_approvals",
        "schedule": _approval_sweep,
    },
    "agentic-requeue-approvals": {
        "task": "agentic_django.requeue_stalled_approvals",
        "schedule": _approval_sweep,
    },
    "agentic-cleanup": {"task": "agentic_django.cleanup", "schedule": 24 * 60 * 60.0},
}

# Agent streams fan out through the channel layer: in memory (one daphne process) by
# default, Redis with REDIS_URL=redis://127.0.0.1:6379/0 (several processes).
if env.str("REDIS_URL", default=""):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": env.str("REDIS_URL"),
                        # redis-py 8 reads with a 5 s timeout by default, which cuts the
                        # layer's 5 s blocking receive short (redis.exceptions.TimeoutError);
                        # allow longer, yet still notice a server that went away.
                        "socket_timeout": 30,
                        "socket_connect_timeout": 5,
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "console": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "console"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "agentic_django": {"level": env.str("AGENTIC_LOG_LEVEL", default="INFO")},
        "shop": {"level": env.str("SHOP_LOG_LEVEL", default="INFO")},
    },
}
