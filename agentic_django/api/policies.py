"""Which DRF authentication, permission and throttle classes apply to a view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.settings import api_settings

from ..conf import agentic_settings

_KINDS = {
    "authentication": "DEFAULT_AUTHENTICATION_CLASSES",
    "permission": "DEFAULT_PERMISSION_CLASSES",
    "throttle": "DEFAULT_THROTTLE_CLASSES",
}


def policy_classes(kind: str, endpoint_classes: Sequence[type] | None = None) -> list[Any]:
    """The classes of ``kind`` for a view: the endpoint's own, else the
    ``AGENTIC_DJANGO`` default, else DRF's ``REST_FRAMEWORK`` default."""
    if endpoint_classes is not None:
        return list(endpoint_classes)
    setting = _KINDS[kind]
    configured = getattr(agentic_settings, setting)
    if configured is not None:
        return list(configured)
    return list(getattr(api_settings, setting))


class AgentPolicyMixin:
    """Resolves DRF policy classes at request time (so ``override_settings`` applies)."""

    def endpoint_policy(self, kind: str) -> Sequence[type] | None:
        """The endpoint's own classes of ``kind``; ``None`` means use the defaults."""
        return None

    def get_authenticators(self) -> list[Any]:
        classes = policy_classes("authentication", self.endpoint_policy("authentication"))
        return [cls() for cls in classes]

    def get_permissions(self) -> list[Any]:
        return [cls() for cls in policy_classes("permission", self.endpoint_policy("permission"))]

    def get_throttles(self) -> list[Any]:
        return [cls() for cls in policy_classes("throttle", self.endpoint_policy("throttle"))]
