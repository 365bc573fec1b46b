"""The base of every admin for audit data: rows the pipeline writes and people only read."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .services import cleanup


class ReadOnlyAdminMixin:
    """Audit data is written by the pipeline only; admins may view it, never change it."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RetainedAdminMixin:
    """Deleting audit records: superusers only, and only what the retention rules release.

    A record still inside its retention period (or still needed by an open
    approval) is evidence: no one deletes it by hand, the ``delete`` permission
    notwithstanding. ``agentic_cleanup`` removes it when its time comes. Bulk
    deletes are covered too: Django's action asks this per selected object.
    """

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not request.user.is_superuser:
            return False
        return obj is None or cleanup.may_delete(obj)
