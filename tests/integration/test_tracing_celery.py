"""Traces across the Celery boundary, with real workers recording their spans to a file.

An approved action carried out by a worker starts its own trace linked to the request
that paused; an ``AgentTasks`` function continues the request's trace on the worker.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth.models import Group, Permission

from agentic_django import AgentTasks
from tests.testapp.agents import record_group

from .conftest import services_missing, wait_for
from .test_approvals_celery import ask_for_report, decision_url, post, wait_until_done

pytest.importorskip("opentelemetry.sdk")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(services_missing()), reason=services_missing() or "-"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def sdk_provider():
    """A recording provider in the test process too (set once per process)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


@pytest.fixture
def approver(django_user_model):
    """A member of the "approvers" group the reports endpoint's rule names."""
    group, _ = Group.objects.get_or_create(name="approvers")
    group.permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    user = django_user_model.objects.create_user("approver", password="pw", is_staff=True)
    user.groups.add(group)
    return user


@pytest.fixture
def spans_file(tmp_path):
    return tmp_path / "worker-spans.jsonl"


def worker_spans(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def span_named(path, name) -> dict | None:
    return next((span for span in worker_spans(path) if span["name"] == name), None)


def test_a_worker_carrying_out_an_approval_links_to_the_request_that_paused(
    client, user, approver, mock_llm, start_worker, spans_file
):
    worker = start_worker(extra_env={"AGENTIC_TEST_SPANS_FILE": str(spans_file)})
    request = ask_for_report(client, user, mock_llm)
    paused = request.trace
    assert paused.otel_trace_id and paused.otel_span_id
    client.force_login(approver)
    assert post(client, decision_url(request), {"decision": "approve"}).status_code == 200
    wait_until_done(request, worker)
    span = wait_for(
        lambda: span_named(spans_file, "agentic.approval.execute"),
        "the worker's agentic.approval.execute span",
        workers=(worker,),
    )
    assert [
        (link["context"]["trace_id"], link["context"]["span_id"]) for link in span["links"]
    ] == [(f"0x{paused.otel_trace_id}", f"0x{paused.otel_span_id}")]
    assert span["context"]["trace_id"] != f"0x{paused.otel_trace_id}"  # a trace of its own


def test_a_background_task_continues_the_request_trace_on_the_worker(
    client, user, site, start_worker, spans_file
):
    client.force_login(user)  # agent endpoints are authenticated by default
    name = f"traced-{uuid.uuid4().hex[:8]}"

    @site.agent_endpoint("later")
    async def later(intent, context, tasks: AgentTasks):
        tasks.add_task(record_group, name)
        return {"queued": True}

    worker = start_worker(extra_env={"AGENTIC_TEST_SPANS_FILE": str(spans_file)})
    response = post(client, "/agents/later/", {"intent": "do it later"})
    assert response.status_code == 200, response.json()
    wait_for(lambda: Group.objects.filter(name=name).exists(), "record_group", workers=(worker,))
    from agentic_django.models import ExecutionTrace

    trace = ExecutionTrace.objects.get(trace_id=response.json()["execution_trace_id"])
    span = wait_for(
        lambda: span_named(spans_file, "agentic.task tests.testapp.agents.record_group"),
        "the worker's agentic.task span",
        workers=(worker,),
    )
    assert span["context"]["trace_id"] == f"0x{trace.otel_trace_id}"
