"""Capabilities, health and the OpenAPI document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from agentic_django import Intent, agents

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _logged_in(client, user):
    """Discovery needs an authenticated caller, like the agents it describes."""
    client.force_login(user)


def test_capabilities_list_every_endpoint_with_scope_and_schemas(client):
    body = client.get("/agents/").json()
    by_name = {entry["name"]: entry for entry in body["endpoints"]}
    assert {"echo", "orders", "private", "boom"} <= set(by_name)
    orders = by_name["orders"]
    assert orders["description"] == "Order questions"
    assert orders["autonomy_level"] == "supervised"
    assert orders["intent_scope"] == {
        "allowed_intents": ["order.*"],
        "denied_intents": ["order.write"],
    }
    assert orders["intent_schema"]["title"] == "OrderFilters"
    assert orders["response_schema"]["title"] == "Count"
    assert "intent_schema" not in by_name["echo"]
    assert orders["engine"] == "handler" and "tools" not in orders


def test_capabilities_name_the_engine_and_the_tools_an_agent_may_call(client):
    from agentic_django.runtime import tool
    from agentic_django.testing import isolated_agents

    @tool(requires_approval=True)
    def refund(order_id: int) -> str:
        """Refund an order."""
        return "ok"

    with isolated_agents() as site:

        @site.agent_endpoint("refunds", tools=[refund])
        async def refunds(intent):
            return None

        body = client.get("/agents/").json()
    [entry] = [e for e in body["endpoints"] if e["name"] == "refunds"]
    assert entry["engine"] == "loop"
    assert entry["tools"] == [
        {"name": "refund", "description": "Refund an order.", "requires_approval": True}
    ]


def test_health_reports_the_database(client):
    response = client.get("/agents/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True


def test_health_is_503_when_the_database_is_down(client, monkeypatch):
    from agentic_django.services import health

    monkeypatch.setattr(health, "_database_ok", lambda: (False, "OperationalError"))
    response = client.get("/agents/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "detail": "OperationalError"}


def test_openapi_document_is_valid_and_typed(client):
    document = client.get("/agents/openapi.json").json()
    validate(document)  # raises on an invalid OpenAPI 3.1 document
    assert document["openapi"] == "3.1.0"
    operation = document["paths"]["/agents/orders/"]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["required"] == ["intent"]
    assert body_schema["properties"]["params"]["$ref"] == "#/components/schemas/OrderFilters"
    result = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert result["properties"]["result"] == {"$ref": "#/components/schemas/Count"}
    schemas = document["components"]["schemas"]
    assert schemas["OrderFilters"]["properties"]["limit"]["type"] == "integer"
    assert (
        "params"
        not in (
            document["paths"]["/agents/echo/"]["post"]["requestBody"]["content"][
                "application/json"
            ]["schema"]["properties"]
        )
    )


def test_openapi_describes_the_approvals_api(client):
    document = client.get("/agents/openapi.json").json()
    validate(document)
    decide = document["paths"]["/agents/approvals/{request_id}/decision/"]["post"]
    body = decide["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert set(decide["responses"]) == {"200", "400", "403", "404", "409"}
    listing = document["paths"]["/agents/approvals/"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["status", "endpoint", "offset"]
    statuses = document["components"]["schemas"]["ApprovalRequest"]["properties"]["status"]
    assert "expired" in statuses["enum"]


class Line(BaseModel):
    sku: str


class Basket(BaseModel):
    lines: list[Line]


def test_openapi_describes_the_streaming_routes(client):
    document = client.get("/agents/openapi.json").json()
    validate(document)
    paths = document["paths"]
    stream = paths["/agents/chatty/stream/"]["post"]
    assert set(stream["responses"]["200"]["content"]) == {
        "text/event-stream",
        "application/x-ndjson",
    }
    assert list(stream["requestBody"]["content"]) == ["application/json"]
    assert "/agents/echo/stream/" not in paths  # not a streaming endpoint
    events = paths["/agents/runs/{run_id}/events/"]["get"]
    assert [p["name"] for p in events["parameters"]] == [
        "run_id",
        "since",
        "Last-Event-ID",
        "transport",
    ]
    resume = paths["/agents/runs/{run_id}/resume/"]["post"]
    assert set(resume["responses"]) == {"200", "400", "403", "404", "409"}
    assert "/agents/approvals/{request_id}/events/" in paths


def test_openapi_hoists_nested_models_into_components(client):
    @agents.agent_endpoint("basket", response_model=Basket)
    async def basket(intent: Intent[Basket], context):
        return {"lines": []}

    try:
        document = client.get("/agents/openapi.json").json()
    finally:
        agents.unregister("basket")
    validate(document)
    assert "Line" in document["components"]["schemas"]
    assert document["components"]["schemas"]["Basket"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/Line"
    }
