from __future__ import annotations

import json

import pytest


@pytest.fixture
def caller(django_user_model):
    """Who calls the engines' endpoints unless a test logs in someone else."""
    return django_user_model.objects.create_user(username="carol")


@pytest.fixture
def post(client, caller):
    # Agent endpoints need an authenticated caller by default; these tests are about
    # the engines, so they call as a logged-in user unless one already is (tests of
    # anonymous callers log out and declare their endpoint public).
    if "_auth_user_id" not in client.session:
        client.force_login(caller)

    def send(name, body, **extra):
        return client.post(
            f"/agents/{name}/", json.dumps(body), content_type="application/json", **extra
        )

    return send


def program_reply(code, reasoning="sums the totals", confidence=0.9):
    """A code-generation reply as the LLM gives it (structured output)."""
    return {"code": code, "reasoning": reasoning, "confidence": confidence}
