"""Property-based: whatever a client sends to any route, the answer is never a 500,
and a request refused before it ran writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from agentic_django.models import AgentSession, ApprovalRequest, ExecutionTrace

pytestmark = pytest.mark.django_db

#: Refusals that happen before a request reaches the pipeline.
REFUSED = {400, 401, 404, 405, 413, 415}

RUN_ID = "0123456789abcdef0123456789abcdef"

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def intent_bodies() -> st.SearchStrategy[Any]:
    """Mostly shaped like the request schema, with every field allowed to be wrong."""
    field = st.one_of(json_values, st.text(max_size=60))
    shaped = st.fixed_dictionaries(
        {"intent": field},
        optional={
            "session_id": field,
            "params": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {}, optional={"status": field, "limit": field, "customer": field}
                ),
            ),
        },
    )
    return st.one_of(shaped, json_values)


def decision_bodies() -> st.SearchStrategy[Any]:
    field = st.one_of(json_values, st.sampled_from(["approve", "reject", ""]))
    shaped = st.fixed_dictionaries(
        {}, optional={"decision": field, "reason": field, "approval_id": field}
    )
    return st.one_of(shaped, json_values)


class Raw(str):
    """A body sent as it is, not JSON-encoded: text no JSON encoder would produce."""


raw_bodies = st.one_of(
    st.integers(min_value=1, max_value=3000).map(lambda n: Raw("[" * n + "]" * n)),
    st.sampled_from([Raw('{"intent": NaN}'), Raw('{"intent": -Infinity}'), Raw("{")]),
)


def encode(body: Any) -> str:
    return body if isinstance(body, Raw) else json.dumps(body)


ROUTES = [
    ("/agents/echo/", intent_bodies()),
    ("/agents/orders/", intent_bodies()),
    ("/agents/private/", intent_bodies()),
    ("/agents/nope/", intent_bodies()),
    (f"/agents/approvals/{RUN_ID}/decision/", decision_bodies()),
    (f"/agents/runs/{RUN_ID}/resume/", decision_bodies()),
]

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def written() -> tuple[int, int, int]:
    return (
        ExecutionTrace.objects.count(),
        AgentSession.objects.count(),
        ApprovalRequest.objects.count(),
    )


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


@pytest.mark.parametrize("route", [route for route, _ in ROUTES])
@pytest.mark.parametrize("signed_in", [True, False], ids=["token", "anonymous"])
def test_no_body_sent_to_any_route_is_answered_with_a_500(client, token, route, signed_in):
    strategy = st.one_of(dict(ROUTES)[route], raw_bodies)
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if signed_in else {}

    @PROPERTY
    @given(body=strategy)
    def check(body: Any) -> None:
        before = written()
        response = client.post(route, encode(body), content_type="application/json", **headers)
        assert response.status_code < 500, (body, response.content)
        assert response["Content-Type"].startswith("application/json")
        if response.status_code in REFUSED:
            assert written() == before, body

    check()


@given(
    query=st.dictionaries(
        st.sampled_from(["status", "endpoint", "limit", "offset", "other"]),
        st.one_of(st.text(max_size=30), st.integers(min_value=-(2**70), max_value=2**70).map(str)),
        max_size=4,
    )
)
@PROPERTY
def test_no_query_sent_to_the_approvals_list_is_answered_with_a_500(client, token, query):
    response = client.get("/agents/approvals/", query, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code in (200, 400), (query, response.content)
