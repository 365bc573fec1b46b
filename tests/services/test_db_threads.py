from __future__ import annotations

import json
import threading

import pytest
from django.test import override_settings

from agentic_django import checks as agentic_checks
from agentic_django.models import ExecutionTrace
from agentic_django.services import traces

pytestmark = [pytest.mark.django_db(transaction=True)]


def post(client, body):
    return client.post("/agents/remember/", json.dumps(body), content_type="application/json")


def test_pipeline_db_work_runs_on_the_shared_pool_when_configured(client, monkeypatch):
    threads: list[str] = []
    original = traces.record_request

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr("agentic_django.services.pipeline.record_request", spy)
    with override_settings(AGENTIC_DJANGO={"PIPELINE_DB_THREADS": 1}):
        first = post(client, {"intent": "remember"}).json()
        second = post(client, {"intent": "remember", "session_id": first["session_id"]}).json()
    assert second["result"] == {"count": 2}
    assert ExecutionTrace.objects.count() == 2
    assert threads and all(name.startswith("agentic-db") for name in threads)


def test_by_default_it_runs_in_djangos_request_thread(client, monkeypatch):
    threads: list[str] = []
    original = traces.record_request

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr("agentic_django.services.pipeline.record_request", spy)
    post(client, {"intent": "remember"})
    assert threads and not any(name.startswith("agentic-db") for name in threads)


@override_settings(AGENTIC_DJANGO={"PIPELINE_DB_THREADS": -1})
def test_a_negative_thread_count_is_reported():
    ids = [m.id for m in agentic_checks.check_settings()]
    assert agentic_checks.E002_BAD_SETTING_VALUE in ids
