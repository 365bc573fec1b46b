"""Our probes as django-health-check checks."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory, override_settings

pytest.importorskip("health_check")
from health_check.views import HealthCheckView

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [
    "health_check.checks.Database",
    "agentic_django.observability.health_checks.ChannelLayer",
    "agentic_django.observability.health_checks.Broker",
    "agentic_django.observability.health_checks.Sandbox",
]


async def report():
    view = HealthCheckView.as_view(checks=CHECKS)
    response = await view(RequestFactory().get("/ht/", {"format": "json"}))
    return response.status_code, json.loads(response.content)


async def test_the_agent_probes_report_ok_in_django_health_check():
    status, body = await report()
    assert status == 200, body
    assert {"ChannelLayer()", "Broker()", "Sandbox()"} <= set(body)
    assert set(body.values()) == {"OK"}


async def test_a_broken_sandbox_fails_the_health_check_with_a_short_detail():
    broken = {"SANDBOX": {"default": {"BACKEND": "agentic_django.harness.NoSuchSandbox"}}}
    with override_settings(AGENTIC_DJANGO=broken):
        status, body = await report()
    assert status == 500
    assert body["Sandbox()"] == "Unavailable: sandbox: ImportError"
    assert body["ChannelLayer()"] == "OK"
