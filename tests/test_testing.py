from __future__ import annotations

import json

import pytest

from agentic_django import Depends, agents
from agentic_django.testing import isolated_agents, override_dependency


def current_shop() -> str:
    return "real shop"


def test_isolated_agents_rolls_back_registrations():
    before = set(agents.endpoints)
    with isolated_agents() as site:
        site.agent_endpoint("temporary")(lambda intent, context: None)
        assert "temporary" in agents
    assert set(agents.endpoints) == before


@pytest.mark.django_db
def test_override_dependency_swaps_a_dependency_for_the_block(client):
    with isolated_agents() as site:

        @site.agent_endpoint("shop_name")
        async def shop_name(intent, context, shop: str = Depends(current_shop)):
            return {"shop": shop}

        def call() -> dict:
            response = client.post(
                "/agents/shop_name/", json.dumps({"intent": "x"}), content_type="application/json"
            )
            return response.json()["result"]

        with override_dependency(current_shop, lambda: "test shop"):
            assert call() == {"shop": "test shop"}
        assert call() == {"shop": "real shop"}
