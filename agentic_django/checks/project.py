"""Checks of the project around the app: what it must install and route for us to work."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core import checks
from django.urls import NoReverseMatch, reverse

from .ids import E015_REST_FRAMEWORK_MISSING, W010_URLS_NOT_INCLUDED


@checks.register(checks.Tags.compatibility)
def check_rest_framework(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The API views are DRF views: without the app, every request is a 500."""
    if apps.is_installed("rest_framework"):
        return []
    return [
        checks.Error(
            "'rest_framework' is not in INSTALLED_APPS; agentic_django's API views need it.",
            hint='Add "rest_framework" to INSTALLED_APPS, before "agentic_django".',
            id=E015_REST_FRAMEWORK_MISSING,
        )
    ]


@checks.register(checks.Tags.urls)
def check_urls_included(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Agents still run from Python without our URLs, but nobody can reach or follow them."""
    try:
        reverse("agentic_django:health")
    except NoReverseMatch:
        return [
            checks.Warning(
                "agentic_django.urls is not included in the project's URLconf: agent "
                "endpoints, approvals and runs have no address, and responses carry no "
                "approval links.",
                hint='Add path("agents/", include("agentic_django.urls")) to urlpatterns.',
                id=W010_URLS_NOT_INCLUDED,
            )
        ]
    return []
