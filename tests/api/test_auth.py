"""Authentication, permissions and throttling are DRF's, per endpoint, router or settings."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.throttling import AnonRateThrottle

from agentic_django import AgentRouter, agents
from agentic_django.models import ExecutionTrace

pytestmark = pytest.mark.django_db


def post(client, name, **extra):
    return client.post(
        f"/agents/{name}/", json.dumps({"intent": "hi"}), content_type="application/json", **extra
    )


def test_an_authenticated_only_endpoint_refuses_anonymous_calls(client):
    response = post(client, "private")
    assert response.status_code in (401, 403)
    assert response.json()["status"] == "error"
    assert ExecutionTrace.objects.count() == 0


def test_token_authentication_reaches_the_handler_with_the_user(client, user):
    token = Token.objects.create(user=user)
    response = post(client, "private", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json()["result"] == {"user": "alice"}
    assert ExecutionTrace.objects.get().user == user


def test_a_bad_token_is_401(client):
    response = post(client, "private", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_session_authentication_works_and_enforces_csrf(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert post(client, "private").status_code == 403  # no CSRF token
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = post(client, "private", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_agent_endpoints_require_an_authenticated_caller_by_default(client, user, site):
    # The test project's REST_FRAMEWORK says AllowAny: agent views do not inherit it.
    @site.agent_endpoint("plain")
    async def plain(intent, context):
        return {"ok": True}

    assert post(client, "plain").status_code in (401, 403)
    assert client.get("/agents/").status_code in (401, 403)
    client.force_login(user)
    assert post(client, "plain").status_code == 200
    assert client.get("/agents/").status_code == 200


@override_settings(
    AGENTIC_DJANGO={"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
)
def test_public_agents_are_an_explicit_choice_in_the_settings(client, site):
    @site.agent_endpoint("plain")
    async def plain(intent, context):
        return {"ok": True}

    assert post(client, "plain").status_code == 200


def test_router_permission_classes_apply_to_its_endpoints(client, user):
    router = AgentRouter(prefix="staff", permission_classes=[IsAdminUser])

    @router.agent_endpoint("report")
    async def report(intent, context):
        return {"ok": True}

    agents.include_router(router)
    try:
        client.force_login(user)
        assert post(client, "staff.report").status_code == 403
        user.is_staff = True
        user.save()
        assert post(client, "staff.report").status_code == 200
    finally:
        agents.unregister("staff.report")


def test_endpoint_classes_override_the_router(client):
    router = AgentRouter(prefix="mixed", permission_classes=[IsAuthenticated])

    @router.agent_endpoint("open", permission_classes=[])
    async def open_endpoint(intent, context):
        return {"ok": True}

    agents.include_router(router)
    try:
        assert post(client, "mixed.open").status_code == 200
    finally:
        agents.unregister("mixed.open")


class OnePerMinute(AnonRateThrottle):
    rate = "1/min"
    scope = "agent-test"


def test_throttle_classes_limit_calls(client):
    from django.core.cache import cache

    cache.clear()

    @agents.agent_endpoint(
        "throttled", throttle_classes=[OnePerMinute], permission_classes=[AllowAny]
    )
    async def throttled(intent, context):
        return {"ok": True}

    try:
        assert post(client, "throttled").status_code == 200
        second = post(client, "throttled")
    finally:
        agents.unregister("throttled")
        cache.clear()
    assert second.status_code == 429
    assert second.json()["code"] == "throttled"
    assert ExecutionTrace.objects.count() == 1
