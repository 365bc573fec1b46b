from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel

from agentic_django import (
    AgentEndpointDef,
    AgentRouter,
    AgentSite,
    AlreadyRegistered,
    Intent,
    agents,
)
from agentic_django.harness import AutonomyPolicy
from agentic_django.streaming import AgentStream

ROOT = Path(__file__).resolve().parents[1]


async def handler(intent, context):
    return None


def test_agents_modules_are_autodiscovered():
    assert {"echo", "orders", "private", "boom", "remember"} <= set(agents.endpoints)


def test_duplicate_names_raise():
    site = AgentSite()
    site.agent_endpoint("one")(handler)
    with pytest.raises(AlreadyRegistered):
        site.agent_endpoint("one")(handler)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"streaming": "websocket"}, "streaming must be one of"),
        ({"streaming": "sse", "on_disconnect": "explode"}, "on_disconnect"),
        ({"streaming": "sse", "autonomy": "auto"}, "AutonomyPolicy"),
    ],
)
def test_streaming_options_are_validated(kwargs, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        AgentSite().agent_endpoint("x", **kwargs)(handler)


def test_a_handler_taking_a_stream_needs_a_streaming_endpoint():
    async def streams(intent: Intent, stream: AgentStream):
        return None

    with pytest.raises(ImproperlyConfigured, match="streaming='sse'"):
        AgentSite().agent_endpoint("x")(streams)
    site = AgentSite()
    site.agent_endpoint("x", streaming=True)(streams)
    assert site.get("x").streaming == "sse"


def test_an_autonomy_policy_sets_the_starting_level():
    site = AgentSite()
    site.agent_endpoint("x", streaming="ndjson", autonomy=AutonomyPolicy(start="manual"))(handler)
    endpoint = site.get("x")
    assert (endpoint.autonomy_level, endpoint.streaming, endpoint.on_disconnect) == (
        "manual",
        "ndjson",
        "continue",
    )


def test_unknown_options_are_a_type_error():
    with pytest.raises(TypeError, match="colour"):
        AgentSite().agent_endpoint("x", colour="red")(handler)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"autonomy_level": "yolo"}, "autonomy_level"),
        ({"response_model": dict}, "response_model"),
        ({"intent_scope": {"allowed_intents": ["*"]}}, "intent_scope"),
        ({"dependencies": [lambda: 1]}, "Depends"),
        ({"permission_classes": "IsAuthenticated"}, "permission_classes"),
    ],
)
def test_bad_option_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        AgentSite().agent_endpoint("x", **kwargs)(handler)


@pytest.mark.parametrize("name", ["", "a/b", "health", "openapi.json", "with space", ".hidden"])
def test_names_that_do_not_fit_a_url_segment_or_shadow_routes_are_refused(name):
    with pytest.raises(ImproperlyConfigured, match="Invalid agent endpoint name"):
        AgentSite().agent_endpoint(name)(handler)


def test_a_handler_with_an_uninjectable_parameter_is_refused_at_registration():
    def needs_mystery(intent, context, mystery):
        return None

    with pytest.raises(ImproperlyConfigured, match="mystery"):
        AgentSite().agent_endpoint("x")(needs_mystery)


def test_router_prefixes_names_and_site_can_add_another_prefix():
    router = AgentRouter(prefix="orders", tags=["sales"])
    router.agent_endpoint("query")(handler)
    site = AgentSite()
    site.include_router(router)
    site.include_router(router, prefix="v2")
    assert set(site.endpoints) == {"orders.query", "v2.orders.query"}
    assert site.get("orders.query").tags == ("sales",)


def test_description_defaults_to_the_handler_docstring():
    def documented(intent, context):
        """Answers questions about invoices.

        More text."""

    site = AgentSite()
    site.agent_endpoint("inv")(documented)
    assert site.get("inv").description == "Answers questions about invoices."


class Payload(BaseModel):
    x: int = 0


def test_endpoint_def_exposes_the_typed_intent_schema():
    async def typed(intent: Intent[Payload], context):
        return None

    site = AgentSite()
    site.agent_endpoint("typed")(typed)
    endpoint = site.get("typed")
    assert isinstance(endpoint, AgentEndpointDef)
    assert endpoint.intent_schema is Payload


def test_router_tags_apply_with_or_without_a_prefix():
    tagged = AgentRouter(tags=["support"])
    tagged.agent_endpoint("triage")(handler)
    prefixed = AgentRouter(prefix="billing")
    prefixed.agent_endpoint("invoices")(handler)
    site = AgentSite()
    site.include_router(tagged)
    site.include_router(prefixed)
    assert site.get("triage").tags == ("support",)
    assert site.get("billing.invoices").tags == ("billing",)


BROKEN_AGENTS = """
from agentic_django import agents


@agents.agent_endpoint("first")
async def first(intent, context):
    return None


raise RuntimeError("the real mistake in agents.py")
"""


def test_an_error_in_an_agents_module_is_reported_as_itself(tmp_path):
    # One endpoint registered, then the module fails: the traceback must end with that
    # failure, not with an UnboundLocalError from Django's autodiscovery.
    (tmp_path / "brokenapp").mkdir()
    (tmp_path / "brokenapp" / "__init__.py").write_text("")
    (tmp_path / "brokenapp" / "agents.py").write_text(BROKEN_AGENTS)
    (tmp_path / "broken_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "INSTALLED_APPS = [app for app in INSTALLED_APPS if app != 'tests.testapp']\n"
        "INSTALLED_APPS += ['brokenapp']\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "broken_settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == ("RuntimeError: the real mistake in agents.py")
