"""Settings of the streaming benchmark's daphne, read from the environment.

* ``DATABASE_URL``: SQLite in the benchmark's temporary directory (WAL, like the
  example project's production-like settings);
* ``STREAM_BENCH_LAYER``: ``redis`` (``channels_redis``'s ``RedisChannelLayer`` on
  ``REDIS_URL``), ``pubsub`` (its ``RedisPubSubChannelLayer``) or ``memory``
  (``InMemoryChannelLayer``: followers then also poll the database every
  ``STREAM_POLL_SECONDS``);
* ``STREAM_BENCH_REDIS_SOCKET_TIMEOUT``: the Redis client's read timeout in seconds,
  ``none``, or ``default`` (redis-py's own, see below);
* ``STREAM_BENCH_REDIS_MAX_CONNECTIONS``: the size of its connection pool, or
  ``default`` (redis-py's: 100 in redis-py 8);
* ``STREAM_KEEPALIVE_SECONDS``: the idle keepalive (and, with Redis, the database
  safety-net poll) of every follower.
"""

from __future__ import annotations

import environ

env = environ.Env()

SECRET_KEY = "streaming-benchmark-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "streambench.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
    "agentic_django",
    "streambench",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {"default": env.db("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # As in example_project.settings: WAL, writers wait for the lock, persistent
    # connections on the pipeline's single database thread.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    PIPELINE_DB_THREADS = 1
else:
    PIPELINE_DB_THREADS = 0

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

AGENTIC_DJANGO = {
    "FORBID_REAL_LLM_CALLS": True,
    "TASK_RUNNER": "inline",
    "PIPELINE_DB_THREADS": env.int("AGENTIC_PIPELINE_DB_THREADS", default=PIPELINE_DB_THREADS),
    "STREAM_KEEPALIVE_SECONDS": env.int("STREAM_KEEPALIVE_SECONDS", default=15),
}

LAYER = env.str("STREAM_BENCH_LAYER", default="redis")
if LAYER in ("redis", "pubsub"):
    _host: dict[str, object] = {"address": env.str("REDIS_URL")}
    # redis-py 8 reads with a 5 s socket timeout by default, as long as channels_redis
    # blocks in BZPOPMIN (brpop_timeout = 5 s): an idle process then gets
    # redis.exceptions.TimeoutError out of receive() every 5 s, which kills a consumer
    # (django/channels_redis#422). "default" keeps redis-py's default to show it.
    _timeout = env.str("STREAM_BENCH_REDIS_SOCKET_TIMEOUT", default="10")
    if _timeout != "default":
        _host["socket_timeout"] = None if _timeout == "none" else float(_timeout)
    # redis-py 8's asyncio pool refuses a 101st concurrent command ("Too many
    # connections"); every follower joins and leaves the run's group on its own.
    _pool = env.str("STREAM_BENCH_REDIS_MAX_CONNECTIONS", default="default")
    if _pool != "default":
        _host["max_connections"] = int(_pool)
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"
            if LAYER == "pubsub"
            else "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_host]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
