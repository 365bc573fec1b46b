"""The agent services as checks of django-health-check (when it is installed).

``GET /agents/health/`` stays the public report of what agents need. Projects that
already wire django-health-check into their load balancer add our probes to its view
instead of watching a second URL::

    from health_check.views import HealthCheckView

    path("ht/", HealthCheckView.as_view(checks=[
        "health_check.checks.Database",
        "agentic_django.observability.health_checks.ChannelLayer",
        "agentic_django.observability.health_checks.Broker",
        "agentic_django.observability.health_checks.Sandbox",
    ])),

Each runs the same probe as our report (bounded by ``HEALTH_TIMEOUT_SECONDS``) and
fails with its short, credential-free detail.
"""

from __future__ import annotations

import dataclasses
import datetime

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from ..conf import agentic_settings
from ..services import health


@dataclasses.dataclass
class _AgentProbe(HealthCheck):
    section = ""

    @property
    def timeout(self) -> datetime.timedelta:
        return datetime.timedelta(seconds=float(agentic_settings.HEALTH_TIMEOUT_SECONDS))

    async def run(self) -> None:
        answer = await health.probe(self.section)
        if not answer.get("ok"):
            raise ServiceUnavailable(f"{self.section}: {answer.get('detail') or 'unavailable'}")


@dataclasses.dataclass
class ChannelLayer(_AgentProbe):
    """The channel layer streams and approvals are followed through."""

    section = "channel_layer"


@dataclasses.dataclass
class Broker(_AgentProbe):
    """The Celery broker (only when ``TASK_RUNNER`` is ``"celery"``)."""

    section = "broker"


@dataclasses.dataclass
class Sandbox(_AgentProbe):
    """The sandbox generated code runs in: a real run of a tiny program."""

    section = "sandbox"
