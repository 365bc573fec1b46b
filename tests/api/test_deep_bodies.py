"""Deeply nested JSON is a 400 on every route that reads a body, signed in or not."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from agentic_django.models import AgentSession, ExecutionTrace

pytestmark = pytest.mark.django_db

#: Deep enough to exhaust the interpreter's recursion limit inside ``json``.
VERY_DEEP = "[" * 100_000 + "]" * 100_000
#: Parses, but nests beyond ``MAX_RESULT_DEPTH``.
DEEP = '{"intent": "x", "params": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}"

ROUTES = [
    "/agents/echo/",
    "/agents/approvals/",
    "/agents/approvals/0123456789abcdef0123456789abcdef/decision/",
    "/agents/runs/0123456789abcdef0123456789abcdef/resume/",
]


@pytest.fixture
def signed_in(client, user):
    key = Token.objects.create(user=user).key
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


@pytest.mark.parametrize("body", [VERY_DEEP, DEEP], ids=["recursion", "over-limit"])
@pytest.mark.parametrize("route", ROUTES)
def test_a_deep_body_is_400_for_a_signed_in_caller(signed_in, route, body):
    response = signed_in.post(route, body, content_type="application/json")
    # The approvals list takes no POST: 405 comes before the body is read.
    assert response.status_code in (400, 405), response.content
    if response.status_code == 400:
        assert "nested deeper" in response.json()["error"]
    assert ExecutionTrace.objects.count() == 0
    assert AgentSession.objects.count() == 0


@pytest.mark.parametrize("body", [VERY_DEEP, DEEP], ids=["recursion", "over-limit"])
def test_a_deep_body_is_400_for_an_anonymous_caller(client, body):
    response = client.post("/agents/echo/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert ExecutionTrace.objects.count() == 0
