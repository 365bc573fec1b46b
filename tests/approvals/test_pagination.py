"""``GET /agents/approvals/`` pages with DRF's limit/offset and refuses out-of-range values."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from agentic_django.api.pagination import MAX_OFFSET
from agentic_django.models import ApprovalRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return client


@pytest.mark.parametrize(
    "query",
    [
        "offset=-1",
        f"offset={MAX_OFFSET + 1}",
        "offset=99999999999999999999999",
        "offset=1e3",
        "limit=0",
        "limit=201",
        "limit=-5",
        "limit=many",
    ],
)
def test_an_out_of_range_page_is_400(signed_in, query):
    response = signed_in.get(f"/agents/approvals/?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_request"
    assert query.split("=")[0] in body["errors"]


def test_pages_follow_limit_and_offset(signed_in, user):
    from datetime import timedelta

    from django.utils import timezone

    for index in range(3):
        ApprovalRequest.objects.create(
            kind="code",
            endpoint_name="reports",
            requested_by=user,
            action={"code": str(index)},
            fingerprint=str(index),
            expires_at=timezone.now() + timedelta(hours=1),
        )
    first = signed_in.get("/agents/approvals/?limit=2").json()
    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert first["previous"] is None
    second = signed_in.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(set(ids)) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("endpoint=orders%00x", "endpoint"),  # PostgreSQL refuses NUL in text: was a 500
        (f"endpoint={'e' * 201}", "endpoint"),
        ("status=nope", "status"),
        ("status=pending%00", "status"),
    ],
)
def test_a_filter_the_database_could_not_take_is_400(signed_in, query, field):
    response = signed_in.get(f"/agents/approvals/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_filters_still_narrow_the_list(signed_in, user):
    from datetime import timedelta

    from django.utils import timezone

    for name in ("orders", "refunds"):
        ApprovalRequest.objects.create(
            kind="code",
            endpoint_name=name,
            requested_by=user,
            action={"code": name},
            fingerprint=name,
            expires_at=timezone.now() + timedelta(hours=1),
        )
    response = signed_in.get("/agents/approvals/?endpoint=refunds&status=pending")
    assert response.status_code == 200, response.content
    assert [row["endpoint"] for row in response.json()["results"]] == ["refunds"]
