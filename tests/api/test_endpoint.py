"""POST /agents/<name>/: responses, traces, sessions and tasks."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse

from agentic_django import AgentTasks, UploadedFiles, agents
from agentic_django.models import ExecutionTrace, SessionTurn
from tests.testapp import agents as testapp_agents

pytestmark = pytest.mark.django_db


def post(client, name, body, **extra):
    return client.post(
        f"/agents/{name}/", json.dumps(body), content_type="application/json", **extra
    )


def test_a_request_answers_the_response_shape_with_session_and_trace(client):
    response = post(client, "echo", {"intent": "show me my orders"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["result"]["action"] == "read" and body["result"]["domain"] == "order"
    assert body["result"]["session_id"] == body["session_id"]
    trace = ExecutionTrace.objects.get(trace_id=body["execution_trace_id"])
    assert trace.status == "completed"
    assert trace.intent_raw == "show me my orders"
    assert (trace.intent_action, trace.intent_domain) == ("read", "order")
    assert trace.result["domain"] == "order"
    assert trace.session.session_id == body["session_id"]
    assert trace.duration_ms > 0
    turn = SessionTurn.objects.get(trace=trace)
    assert (turn.index, turn.intent, turn.endpoint_name) == (1, "show me my orders", "echo")


def test_handler_agent_response_keeps_its_fields(client):
    body = post(client, "full_response", {"intent": "hi"}).json()
    assert body["result"] == {"ok": True}
    assert body["reasoning"] == "because"
    assert body["follow_up_suggestions"] == ["more"]


def test_typed_payload_sent_with_the_request_reaches_the_handler(client):
    testapp_agents.TASK_LOG.clear()
    response = post(client, "orders", {"intent": "list orders", "params": {"status": "shipped"}})
    assert response.status_code == 200, response.content
    assert response.json()["result"] == {"count": 3}
    trace = ExecutionTrace.objects.get()
    assert trace.intent_parameters == {"status": "shipped", "limit": 10}
    assert testapp_agents.TASK_LOG == ["orders:shipped"]


def test_typed_intent_without_payload_uses_the_schema_defaults(client):
    testapp_agents.TASK_LOG.clear()
    response = post(client, "orders", {"intent": "list orders"})
    assert response.status_code == 200
    assert testapp_agents.TASK_LOG == ["orders:any"]


def test_intent_outside_the_scope_is_403_and_recorded_as_policy_denied(client):
    response = post(client, "orders", {"intent": "cancel my order"})
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "policy_denied"
    assert "order.write" in body["error"]
    trace = ExecutionTrace.objects.get()
    assert trace.status == "policy_denied"
    [evaluation] = trace.policy_evaluations
    assert evaluation["stage"] == "policy_denied"
    assert evaluation["results"][0]["policy_name"] == "intent_scope"
    assert evaluation["results"][0]["allowed"] is False
    assert body["details"]["policy"] == "intent_scope"
    assert SessionTurn.objects.filter(trace=trace).exists()


def test_a_policy_violation_raised_by_the_handler_is_403(client):
    response = post(client, "denied", {"intent": "refund"})
    assert response.status_code == 403
    [evaluation] = ExecutionTrace.objects.get().policy_evaluations
    assert evaluation["results"][0]["policy_name"] == "refund_rules"


def test_an_unexpected_error_is_a_generic_500_with_the_detail_only_in_the_trace(client, caplog):
    with caplog.at_level(logging.ERROR, logger="agentic_django.pipeline"):
        response = post(client, "boom", {"intent": "explode"})
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error"
    assert body["error"] == "Internal server error"
    assert "secret" not in response.content.decode()
    trace = ExecutionTrace.objects.get()
    assert trace.status == "error"
    assert "secret internal detail" in trace.error
    assert trace.error_type == "builtins.RuntimeError"
    assert "secret internal detail" in caplog.text


def test_response_model_mismatch_is_a_500_recorded_on_the_trace(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default

    @agents.agent_endpoint("bad_shape", response_model=testapp_agents.Count)
    async def bad_shape(intent, context):
        return {"count": "many"}

    try:
        response = post(client, "bad_shape", {"intent": "count"})
    finally:
        agents.unregister("bad_shape")
    assert response.status_code == 500
    trace = ExecutionTrace.objects.get()
    assert trace.status == "error" and "Count" in trace.error


def test_a_django_http_response_is_passed_through(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default

    @agents.agent_endpoint("csv")
    def csv(intent, context):
        return HttpResponse("a,b\n1,2\n", content_type="text/csv")

    try:
        response = post(client, "csv", {"intent": "export"})
    finally:
        agents.unregister("csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response.content == b"a,b\n1,2\n"
    assert ExecutionTrace.objects.get().result["http_response"]["status"] == 200


def test_sync_handlers_can_use_the_orm(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default

    @agents.agent_endpoint("users")
    def users(intent, context):
        from django.contrib.auth import get_user_model

        return {"users": get_user_model().objects.count()}

    try:
        response = post(client, "users", {"intent": "count users"})
    finally:
        agents.unregister("users")
    assert response.json()["result"] == {"users": 1}


def test_multipart_upload_reaches_the_handler(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default

    @agents.agent_endpoint("upload")
    async def upload(intent, context, files: UploadedFiles):
        return {name: [f.filename, f.size, f.content.decode()] for name, f in files.items()}

    try:
        response = client.post(
            "/agents/upload/",
            {"intent": "read this", "doc": SimpleUploadedFile("a.txt", b"hello", "text/plain")},
        )
    finally:
        agents.unregister("upload")
    assert response.status_code == 200, response.content
    assert response.json()["result"] == {"doc": ["a.txt", 5, "hello"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_the_pipeline_is_callable_from_python(user):
    response = await agents.process_intent("show orders", endpoint_name="echo", user=user)
    assert response.status == "completed"
    assert response.result["domain"] == "order"
    trace = await ExecutionTrace.objects.aget(trace_id=response.execution_trace_id)
    assert trace.user_id == user.pk


def test_background_tasks_run_after_the_response_and_failures_never_break_it(client, caplog, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default
    ran = []

    def boom():
        raise RuntimeError("task failed")

    @agents.agent_endpoint("with_tasks")
    async def with_tasks(intent, context, tasks: AgentTasks):
        tasks.add_task(boom)
        tasks.add_task(ran.append, "done")
        return {"ok": True}

    try:
        with caplog.at_level(logging.ERROR, logger="agentic_django.tasks"):
            response = post(client, "with_tasks", {"intent": "go"})
    finally:
        agents.unregister("with_tasks")
    assert response.status_code == 200
    assert ran == ["done"]
    assert "task failed" in caplog.text


def test_tasks_of_a_failed_request_do_not_run(client):
    ran = []

    @agents.agent_endpoint("fails_after_scheduling")
    async def fails(intent, context, tasks: AgentTasks):
        tasks.add_task(ran.append, "should not run")
        raise RuntimeError("nope")

    try:
        post(client, "fails_after_scheduling", {"intent": "go"})
    finally:
        agents.unregister("fails_after_scheduling")
    assert ran == []


def test_the_direct_handler_path_makes_a_small_constant_number_of_queries(
    client, django_assert_max_num_queries
):
    session_id = post(client, "echo", {"intent": "first"}).json()["session_id"]
    # read the agent's settings, load session, update session, insert trace, insert turn
    # (+ savepoints in tests)
    with django_assert_max_num_queries(7):
        response = post(client, "echo", {"intent": "second", "session_id": session_id})
    assert response.status_code == 200
    with django_assert_max_num_queries(6):
        post(client, "echo", {"intent": "third"})
