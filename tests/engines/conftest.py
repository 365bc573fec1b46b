from __future__ import annotations

import json

import pytest

from agentic_django.testing import isolated_agents


@pytest.fixture
def site():
    """The default site, restored after the test (endpoints registered inside vanish)."""
    with isolated_agents() as site:
        yield site


@pytest.fixture
def post(client):
    def send(name, body, **extra):
        return client.post(
            f"/agents/{name}/", json.dumps(body), content_type="application/json", **extra
        )

    return send


def program_reply(code, reasoning="sums the totals", confidence=0.9):
    """A code-generation reply as the LLM gives it (structured output)."""
    return {"code": code, "reasoning": reasoning, "confidence": confidence}
