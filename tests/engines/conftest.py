from __future__ import annotations

import json

import pytest


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
