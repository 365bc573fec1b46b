"""The health report: every section, failures reported as degraded, nothing secret in it."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from agentic_django.core.exceptions import CodeExecutionError
from agentic_django.harness import Sandbox, SandboxResult

pytestmark = pytest.mark.django_db

SECRET = "hunter2"
UNREACHABLE_REDIS = f"redis://:{SECRET}@127.0.0.1:1/0"


class SilentLayer(InMemoryChannelLayer):
    """A channel layer that accepts messages and never delivers them."""

    async def receive(self, channel):
        await asyncio.Event().wait()


class BrokenSandbox(Sandbox):
    backend = "broken"

    async def execute(self, code, data=None, limits=None):
        raise CodeExecutionError("no interpreter", error_type="SandboxFailure")


class CountingSandbox(Sandbox):
    backend = "counting"
    runs = 0

    async def execute(self, code, data=None, limits=None):
        CountingSandbox.runs += 1
        return SandboxResult(result=42, backend=self.backend)


@pytest.fixture(autouse=True)
def _staff(client, django_user_model):
    """The checks' details are for staff: these tests read them signed in as staff."""
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))


def health(client):
    response = client.get("/agents/health/")
    return response.status_code, response.json(), response.content.decode()


@pytest.fixture
def celery_app(monkeypatch):
    """Make a fresh Celery app, with the broker the test gives, the one every thread uses.

    Celery's current app is per thread and the test client runs the view in another
    thread, so the app becomes the process default too (as the first app of a Django
    process does, through Celery's Django fixup).
    """
    from celery import Celery, _state

    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    def make(broker):
        app = Celery("health", broker=broker, set_as_current=False)
        monkeypatch.setattr(_state, "default_app", app)
        monkeypatch.setattr(_state._tls, "current_app", app)
        return app

    return make


def test_every_section_is_reported_and_ok(client):
    status, body, _ = health(client)
    assert status == 200 and body["status"] == "ok"
    checks = body["checks"]
    assert set(checks) == {"database", "channel_layer", "broker", "sandbox"}
    assert checks["channel_layer"] == {
        "ok": True,
        "backend": "channels.layers.InMemoryChannelLayer",
        "process_local": True,
        "detail": "round trip",
    }
    assert checks["broker"] == {"ok": True, "detail": "not used (inline task runner)"}
    # The test app's "reports" endpoint generates code: the sandbox really runs some.
    sandbox = checks["sandbox"]
    assert (sandbox["ok"], sandbox["alias"], sandbox["detail"]) == (True, "default", "ran code")
    assert isinstance(sandbox["network_isolated"], bool)


def test_an_unreachable_redis_channel_layer_degrades_health_without_leaking_its_url(
    client, settings
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [UNREACHABLE_REDIS]},
        }
    }
    status, body, text = health(client)
    assert (status, body["status"]) == (503, "degraded")
    layer = body["checks"]["channel_layer"]
    assert layer["ok"] is False
    assert layer["backend"] == "channels_redis.core.RedisChannelLayer"
    assert "process_local" not in layer
    assert layer["detail"].isidentifier()  # an exception class name, not its message
    assert SECRET not in text and "127.0.0.1" not in text


def test_a_layer_that_never_answers_is_cut_off_at_the_timeout(client, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.SilentLayer"}}
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "HEALTH_TIMEOUT_SECONDS": 0.2}
    status, body, _ = health(client)
    assert status == 503
    assert body["checks"]["channel_layer"]["detail"] == "no answer within 0.2s"
    assert body["checks"]["database"]["ok"] is True


def test_without_a_channel_layer_followers_poll_and_health_is_ok(client, settings):
    del settings.CHANNEL_LAYERS
    status, body, _ = health(client)
    assert status == 200
    assert body["checks"]["channel_layer"]["backend"] is None


def test_an_unreachable_broker_degrades_health_without_leaking_its_url(
    client, settings, celery_app
):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}
    celery_app(UNREACHABLE_REDIS)
    status, body, text = health(client)
    assert status == 503
    broker = body["checks"]["broker"]
    assert (broker["ok"], broker["backend"]) == (False, "redis")
    assert broker["detail"].isidentifier()
    assert SECRET not in text and "127.0.0.1" not in text


def test_a_reachable_broker_is_reported_connected(client, settings, celery_app):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}
    celery_app("memory://")
    status, body, _ = health(client)
    assert status == 200
    assert body["checks"]["broker"] == {"ok": True, "backend": "memory", "detail": "connected"}


def test_a_sandbox_that_cannot_run_code_degrades_health(client, settings):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "SANDBOX": {"default": {"BACKEND": f"{__name__}.BrokenSandbox"}},
    }
    status, body, _ = health(client)
    assert status == 503
    assert body["checks"]["sandbox"] == {
        "ok": False,
        "alias": "default",
        "backend": "broken",
        "detail": "CodeExecutionError",
    }


def test_a_working_sandbox_is_tried_once_per_interval(client, settings):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "SANDBOX": {"default": {"BACKEND": f"{__name__}.CountingSandbox"}},
    }
    CountingSandbox.runs = 0
    for _ in range(3):
        assert health(client)[1]["checks"]["sandbox"]["ok"] is True
    assert CountingSandbox.runs == 1


def test_the_sandbox_is_left_alone_when_no_endpoint_generates_code(client, settings, site):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "SANDBOX": {"default": {"BACKEND": f"{__name__}.CountingSandbox"}},
    }
    for endpoint in [endpoint for endpoint in site if endpoint.codegen]:
        site.unregister(endpoint.name)
    CountingSandbox.runs = 0
    sandbox = health(client)[1]["checks"]["sandbox"]
    assert sandbox == {
        "ok": True,
        "alias": "default",
        "backend": "counting",
        "detail": "not used (no codegen endpoint)",
    }
    assert CountingSandbox.runs == 0


def test_a_malformed_setting_is_reported_not_raised(client, settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "SANDBOX": "forkserver"}
    status, body, _ = health(client)
    assert status == 503
    assert body["checks"]["sandbox"] == {"ok": False, "detail": "AttributeError"}
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.parametrize("signed_in", ["anonymous", "customer"])
def test_anonymous_and_non_staff_callers_get_the_status_only(client, django_user_model, signed_in):
    client.logout()
    if signed_in == "customer":
        client.force_login(django_user_model.objects.create_user("customer"))
    status, body, _ = health(client)
    assert status == 200
    assert body == {"status": "ok"}


def test_a_bad_token_still_gets_the_status(client):
    client.logout()
    response = client.get("/agents/health/", HTTP_AUTHORIZATION="Token nope")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_details_can_be_made_public(client, settings):
    client.logout()
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "HEALTH_DETAILS": "public"}
    status, body, _ = health(client)
    assert status == 200
    assert set(body["checks"]) == {"database", "channel_layer", "broker", "sandbox"}
