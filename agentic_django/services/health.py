"""Health report of the services agents depend on: database, channel layer, broker, sandbox.

The checks run at once, each bounded by ``HEALTH_TIMEOUT_SECONDS``, so a report
takes about that long at most whatever hangs. The endpoint answers anyone, so
details are short and safe: a backend name, a state, or an exception's class
name — never a URL, a host or an exception message (they can hold credentials).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.utils.module_loading import import_string

from .. import __version__
from ..conf import agentic_settings, on_reload
from ..models import new_id
from .run_store import channel_layer, layer_is_shared

Check = dict[str, Any]

#: The sandbox checked: the one codegen endpoints use unless they name another.
SANDBOX_ALIAS = "default"
#: After a successful run a process repeats that answer for this long (seconds), so
#: calling the endpoint in a loop does not run code in a loop. Failures are not
#: remembered: a cold pool that missed the deadline is tried again on the next call.
SANDBOX_PROBE_INTERVAL = 30.0
PROBE_CODE = "result = 6 * 7"

_last_sandbox_probe: tuple[float, Check] | None = None


async def _bounded(probe: Awaitable[Check], timeout: float, **known: Any) -> Check:
    """``probe``'s answer within ``timeout``, or a failure saying what went wrong."""
    try:
        answer = await asyncio.wait_for(probe, timeout)
    except TimeoutError:
        answer = {"ok": False, "detail": f"no answer within {timeout:g}s"}
    except Exception as exc:  # the report says what failed rather than raising
        answer = {"ok": False, "detail": type(exc).__name__}
    return {**known, **answer}


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # the report says what failed rather than raising
        return False, type(exc).__name__
    return True, connection.vendor


async def _database() -> Check:
    ok, detail = await sync_to_async(_database_ok)()
    return {"ok": ok, "detail": detail}


async def _channel_layer(timeout: float) -> Check:
    """A message sent to a fresh channel and received back."""
    try:
        layer = channel_layer()
    except Exception as exc:  # a BACKEND Channels cannot build
        return {"ok": False, "backend": None, "detail": type(exc).__name__}
    if layer is None:
        return {"ok": True, "backend": None, "detail": "not configured (followers poll)"}

    async def round_trip() -> Check:
        channel = await layer.new_channel()
        token = new_id()
        await layer.send(channel, {"type": "agentic.health", "token": token})
        message = await layer.receive(channel)
        if message.get("token") != token:
            return {"ok": False, "detail": "received another message"}
        return {"ok": True, "detail": "round trip"}

    known: dict[str, Any] = {"backend": f"{type(layer).__module__}.{type(layer).__qualname__}"}
    if not layer_is_shared(layer):
        # Fine for one process; streams and approvals crossing processes poll the database.
        known["process_local"] = True
    return await _bounded(round_trip(), timeout, **known)


def _transport_name(app: Any) -> str:
    """The broker's transport (``redis``, ``amqp``…), read from the settings, not the URL."""
    try:
        broker = app.connection_for_write()
        transport = broker.transport_cls
        return transport if isinstance(transport, str) else type(broker.transport).__name__
    except Exception:  # an unknown transport; connecting will say what is wrong
        return "unknown"


def _connect_broker(app: Any, timeout: float) -> None:
    with app.connection_for_write(connect_timeout=timeout) as broker:
        # One immediate retry, no back-off: the report must come back in time.
        broker.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)


async def _broker(timeout: float) -> Check:
    """A connection to the broker of the Celery app tasks are sent with."""
    if agentic_settings.TASK_RUNNER != "celery":
        return {"ok": True, "detail": "not used (inline task runner)"}
    from celery import current_app

    # Celery's current app is per thread: take this one's, before leaving it.
    app = current_app._get_current_object()

    async def connect() -> Check:
        await sync_to_async(_connect_broker, thread_sensitive=False)(app, timeout)
        return {"ok": True, "detail": "connected"}

    return await _bounded(connect(), timeout, backend=_transport_name(app))


async def _sandbox(timeout: float) -> Check:
    """Run a trivial snippet in the default sandbox, if any endpoint runs generated code."""
    global _last_sandbox_probe
    from ..harness import SandboxLimits
    from ..registry import agents
    from .sandboxes import sandboxes

    config = agentic_settings.SANDBOX.get(SANDBOX_ALIAS)
    if not isinstance(config, dict) or "BACKEND" not in config:
        return {"ok": False, "alias": SANDBOX_ALIAS, "detail": "not configured"}
    try:
        backend_class = import_string(config["BACKEND"])
    except ImportError as exc:
        return {"ok": False, "alias": SANDBOX_ALIAS, "detail": type(exc).__name__}
    known = {
        "alias": SANDBOX_ALIAS,
        "backend": getattr(backend_class, "backend", "") or backend_class.__name__,
    }
    if not any(e.codegen and e.sandbox == SANDBOX_ALIAS for e in agents):
        # Nothing runs generated code here: do not start sandbox processes for a report.
        return {"ok": True, **known, "detail": "not used (no codegen endpoint)"}
    if _last_sandbox_probe is not None:
        probed_at, answer = _last_sandbox_probe
        if time.monotonic() - probed_at < SANDBOX_PROBE_INTERVAL:
            return answer

    async def execute() -> Check:
        limits = SandboxLimits(cpu_seconds=1, wall_seconds=timeout, memory_mb=64)
        result = await sandboxes[SANDBOX_ALIAS].execute(PROBE_CODE, limits=limits)
        return {
            "ok": result.result == 42,
            "detail": "ran code" if result.result == 42 else "wrong result",
            "network_isolated": result.isolation.network_namespace,
        }

    answer = await _bounded(execute(), timeout, **known)
    if answer["ok"]:
        _last_sandbox_probe = (time.monotonic(), answer)
    return answer


@on_reload
def _forget_sandbox_probe() -> None:
    global _last_sandbox_probe
    _last_sandbox_probe = None


async def probe(name: str) -> Check:
    """One section of the report by name (``channel_layer``, ``broker``, ``sandbox``,
    ``database``), bounded like in :func:`check`; for django-health-check's checks."""
    timeout = float(agentic_settings.HEALTH_TIMEOUT_SECONDS)
    probes = {
        "database": lambda: _bounded(_database(), timeout),
        "channel_layer": lambda: _channel_layer(timeout),
        "broker": lambda: _broker(timeout),
        "sandbox": lambda: _sandbox(timeout),
    }
    return await probes[name]()


async def check() -> dict[str, Any]:
    """``{"status": "ok"|"degraded", "version", "checks": {name: {"ok", "detail", ...}}}``."""
    timeout = float(agentic_settings.HEALTH_TIMEOUT_SECONDS)
    sections = {
        "database": _bounded(_database(), timeout),
        "channel_layer": _channel_layer(timeout),
        "broker": _broker(timeout),
        "sandbox": _sandbox(timeout),
    }
    answers = await asyncio.gather(*sections.values(), return_exceptions=True)
    checks: dict[str, Check] = {
        # A section that failed outside its probe (a malformed setting) is reported, too.
        name: {"ok": False, "detail": type(answer).__name__}
        if isinstance(answer, BaseException)
        else answer
        for name, answer in zip(sections, answers, strict=True)
    }
    return {
        "status": "ok" if all(item["ok"] for item in checks.values()) else "degraded",
        "version": __version__,
        "checks": checks,
    }
