"""Settings of the concurrency benchmark's servers, read from the environment.

Framework settings are agentic_django's defaults on purpose (the benchmark judges the
defaults); only what the benchmark itself needs is set:

* ``DATABASE_URL``: SQLite (WAL and an IMMEDIATE write lock, as a production SQLite
  site would use) or PostgreSQL; Django's default ``CONN_MAX_AGE`` (0) either way;
  ``BENCH_PG_POOL=1`` turns on psycopg's connection pool;
* ``BENCH_MODEL_DELAY``: seconds the model takes to parse each intent (0.5);
* ``BENCH_CONN_MAX_AGE``: override ``CONN_MAX_AGE`` (unset: Django's default).

No authentication (``AllowAny``), so the bare view and the agent endpoints do the same
DRF work before the framework's own.
"""

from __future__ import annotations

import environ

env = environ.Env()

SECRET_KEY = "concurrency-benchmark-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "concbench.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "agentic_django",
    "concbench",
]

MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]

DATABASES = {"default": env.db("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
elif env.bool("BENCH_PG_POOL", default=False):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = True
if "BENCH_CONN_MAX_AGE" in env:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("BENCH_CONN_MAX_AGE")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}

AGENTIC_DJANGO = {
    "FORBID_REAL_LLM_CALLS": True,
    "TASK_RUNNER": "inline",
    "INTENT_PARSER_LLM": "slow",
    "LLM_BACKENDS": {
        "slow": {
            "BACKEND": "concbench.llm.SlowModel",
            "OPTIONS": {"delay": env.float("BENCH_MODEL_DELAY", default=0.5)},
        }
    },
    # Priced so that budgets see the model's calls (an unpriced model costs 0).
    "PRICING": {"bench-slow": {"input": 1.0, "output": 2.0}},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
