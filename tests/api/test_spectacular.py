"""The agent API inside the project's drf-spectacular schema, Swagger UI and ReDoc."""

from __future__ import annotations

import pytest
from django.test import override_settings

pytest.importorskip("drf_spectacular")
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

SCHEMA = "/api/schema/"


@pytest.fixture
def client(client, user):
    """A signed-in client: the schema and its pages follow the agent API's permissions,
    which need an authenticated caller by default."""
    client.force_login(user)
    return client


def schema(client):
    response = client.get(SCHEMA, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content[:500]
    import json

    return json.loads(response.content)


def test_the_project_schema_holds_agent_endpoints_streams_and_approvals(client):
    document = schema(client)
    validate(document)
    paths = document["paths"]
    assert paths["/agents/echo/"]["post"]["operationId"] == "agent_echo"
    assert any(path.endswith("/stream/") for path in paths), sorted(paths)
    assert "/agents/approvals/" in paths
    assert "/agents/approvals/{request_id}/decision/" in paths
    assert "AgentError" in document["components"]["schemas"]


def test_agent_operations_name_the_api_security_schemes(client):
    document = schema(client)
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) >= {"tokenAuth", "cookieAuth"}
    assert schemes["tokenAuth"]["in"] == "header"
    echo = document["paths"]["/agents/echo/"]["post"]
    assert {name for entry in echo["security"] for name in entry} == {"tokenAuth", "cookieAuth"}
    # Health needs no credentials: no requirement at all, or an explicit empty one.
    assert not document["paths"]["/agents/health/"]["get"].get("security")


def test_our_own_document_stays_valid_for_projects_without_spectacular(client):
    validate(client.get("/agents/openapi.json").json())


def test_swagger_ui_and_redoc_are_served_without_a_cdn(client):
    for page in ("swagger/", "redoc/"):
        response = client.get(SCHEMA + page)
        assert response.status_code == 200
        html = response.content.decode()
        assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
        assert "/static/drf_spectacular_sidecar/" in html


def test_schema_and_docs_follow_the_agent_api_permissions(client, user):
    opened = {"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
    client.logout()
    for page in ("", "swagger/", "redoc/"):
        assert client.get(SCHEMA + page).status_code in (401, 403)
    with override_settings(AGENTIC_DJANGO=opened):
        for page in ("", "swagger/", "redoc/"):
            assert client.get(SCHEMA + page).status_code == 200
    client.force_login(user)
    for page in ("", "swagger/", "redoc/"):
        assert client.get(SCHEMA + page).status_code == 200
