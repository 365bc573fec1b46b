from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import TestCase

from agentic_django import Depends, agents
from agentic_django.llm import LLMBackend, LLMMessage, LLMPrompt
from agentic_django.testing import AgenticTestMixin, isolated_agents, override_dependency

ROOT = Path(__file__).resolve().parents[1]


def current_shop() -> str:
    return "real shop"


def test_isolated_agents_rolls_back_registrations():
    before = set(agents.endpoints)
    with isolated_agents() as site:
        site.agent_endpoint("temporary")(lambda intent, context: None)
        assert "temporary" in agents
    assert set(agents.endpoints) == before


@pytest.mark.django_db
def test_override_dependency_swaps_a_dependency_for_the_block(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default
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


def test_the_testing_helpers_import_without_pytest():
    # pytest is not a dependency: a project testing with `manage.py test` has none.
    script = (
        "import sys; sys.modules['pytest'] = None\n"
        "import django; django.setup()\n"
        "import agentic_django.testing as testing\n"
        "assert not hasattr(testing, 'mock_llm'), 'fixtures without pytest'\n"
        "print(testing.AgenticTestMixin.__name__, testing.isolated_agents.__name__)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["AgenticTestMixin", "isolated_agents"]


class MixinTests(AgenticTestMixin, TestCase):
    """The mixin as a `manage.py test` user writes it (pytest runs it like Django would)."""

    def test_a_mock_llm_and_a_private_registry(self):
        self.client.force_login(get_user_model().objects.create_user("caller"))

        @agents.agent_endpoint("mixin_summary", llm="default")
        async def summary(intent, context, llm: LLMBackend):
            prompt = LLMPrompt(system="Summarise.", messages=[LLMMessage("user", intent.raw)])
            return (await llm.generate(prompt)).content

        self.mock_llm.add_response("Three orders shipped.")
        response = self.client.post(
            "/agents/mixin_summary/", {"intent": "summarise"}, content_type="application/json"
        )
        self.assertEqual(response.json()["result"], "Three orders shipped.")
        self.assertEqual(self.mock_llm.call_count, 1)

    def test_registrations_of_another_test_are_gone(self):
        self.assertNotIn("mixin_summary", agents)
