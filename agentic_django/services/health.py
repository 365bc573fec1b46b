"""Health report of the services agents depend on."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection

from .. import __version__


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # the report says what failed rather than raising
        return False, type(exc).__name__
    return True, connection.vendor


async def check() -> dict[str, Any]:
    """``{"status": "ok"|"degraded", "version", "checks": {...}}``."""
    db_ok, db_detail = await sync_to_async(_database_ok)()
    checks = {"database": {"ok": db_ok, "detail": db_detail}}
    return {
        "status": "ok" if all(item["ok"] for item in checks.values()) else "degraded",
        "version": __version__,
        "checks": checks,
    }
