"""``GET /agents/metrics/``: the Prometheus exposition of :mod:`.metrics`.

Who may read it: a scraper presenting ``Authorization: Bearer <METRICS_TOKEN>``,
or a staff user authenticated like on the rest of the agent API; with
``METRICS_PUBLIC`` anyone (for a port only the scraper can reach). Without
``prometheus_client`` installed the route answers 404.

Under several worker processes (gunicorn, uvicorn workers, Celery) set
``PROMETHEUS_MULTIPROC_DIR`` before the processes start: every process then
writes its samples there and this view adds them up, whichever process answers.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from django.http import Http404, HttpResponse
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.request import Request
from rest_framework.views import APIView

from ..api.policies import AgentPolicyMixin
from ..conf import agentic_settings
from . import metrics

_live_runs = metrics.LiveRunsCollector()
_registered_default = False


def _bearer_token_matches(request: Any) -> bool:
    expected = agentic_settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), str(expected).encode())
    )


def exposition() -> tuple[bytes, str]:
    """The current samples in Prometheus' text format, and its content type."""
    global _registered_default
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(_live_runs)
    else:
        registry = REGISTRY
        if not _registered_default:
            REGISTRY.register(_live_runs)
            _registered_default = True
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsView(AgentPolicyMixin, APIView):
    """Serves the metrics to Prometheus (token) and to staff (the API's authentication)."""

    schema = None  # not part of the API's schema

    def perform_authentication(self, request: Request) -> None:
        # A scraper's bearer token is ours, not a credential for the API's authenticators.
        if not (agentic_settings.METRICS_PUBLIC or _bearer_token_matches(request)):
            request.user  # noqa: B018  (runs the authenticators)

    def check_permissions(self, request: Request) -> None:
        if agentic_settings.METRICS_PUBLIC or _bearer_token_matches(request):
            return
        user = request.user
        if not (user and user.is_authenticated):
            raise NotAuthenticated()
        if not user.is_staff:
            raise PermissionDenied("Only staff may read the metrics.")

    def get_throttles(self) -> list[Any]:
        return []

    def get(self, request: Request) -> HttpResponse:
        if not metrics.enabled:
            raise Http404("Metrics need the prometheus extra (prometheus_client).")
        body, content_type = exposition()
        return HttpResponse(body, content_type=content_type)
