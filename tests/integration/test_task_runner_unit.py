"""TASK_RUNNER="celery" without a broker: what add_task refuses, and what is sent.

The worker side runs in test_approvals_celery.py (integration); here the sending
is captured, so these run in the default suite.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group

from agentic_django import AgentTasks
from agentic_django.services.background import new_tasks
from tests.testapp.agents import record_group


@pytest.fixture
def celery_runner(settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}


@pytest.fixture
def sent(monkeypatch):
    """What the request sent to Celery, as ``(dotted path, args, kwargs)``."""
    calls: list[tuple[str, list, dict]] = []

    class Capture:
        @staticmethod
        def delay(path, args, kwargs):
            calls.append((path, args, kwargs))

    monkeypatch.setattr("agentic_django.tasks.run_agent_task", Capture)
    return calls


def _nested():
    def inner(name):
        return name

    return inner


@pytest.mark.parametrize(
    "func",
    [
        pytest.param(lambda name: name, id="lambda"),
        pytest.param(_nested(), id="nested"),
        pytest.param(Group().save, id="bound-method"),
    ],
)
def test_a_function_a_worker_cannot_import_is_refused_when_added(celery_runner, func):
    tasks = new_tasks()
    with pytest.raises(TypeError, match="module-level function a worker can import"):
        tasks.add_task(func, "x")
    assert tasks.pending_count == 0


def test_arguments_that_are_not_json_are_refused_when_added(celery_runner):
    tasks = new_tasks()
    with pytest.raises(TypeError, match="JSON-serialisable"):
        tasks.add_task(record_group, Group(name="x"))
    assert tasks.pending_count == 0


def test_a_module_level_function_with_json_arguments_is_accepted(celery_runner):
    tasks = new_tasks()
    tasks.add_task(record_group, "reports", extra=[1, 2])
    assert tasks.pending_count == 1


def test_the_inline_runner_still_takes_any_callable():
    tasks = new_tasks()
    tasks.add_task(lambda: None)
    assert tasks.pending_count == 1


@pytest.mark.django_db
def test_a_request_sends_its_tasks_by_dotted_path(celery_runner, sent, client, site, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default

    @site.agent_endpoint("later")
    async def later(intent, context, tasks: AgentTasks):
        tasks.add_task(record_group, "made-later")
        return {"queued": True}

    response = client.post(
        "/agents/later/", json.dumps({"intent": "later"}), content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    assert sent == [("tests.testapp.agents.record_group", ["made-later"], {})]
    assert not Group.objects.filter(name="made-later").exists()  # the worker's job


@pytest.mark.django_db
def test_a_handler_adding_a_lambda_fails_and_sends_nothing(celery_runner, sent, client, site, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default

    @site.agent_endpoint("careless")
    async def careless(intent, context, tasks: AgentTasks):
        tasks.add_task(record_group, "never")
        tasks.add_task(lambda: None)
        return {"queued": True}

    response = client.post(
        "/agents/careless/", json.dumps({"intent": "later"}), content_type="application/json"
    )
    assert response.status_code == 500
    assert response.json()["status"] == "error"
    assert sent == []
