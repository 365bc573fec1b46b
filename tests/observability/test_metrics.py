"""Prometheus metrics: what is counted, who may read it, and that labels stay bounded."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

pytest.importorskip("prometheus_client")
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from agentic_django import agents, signals
from agentic_django.llm import FunctionBackend, LLMResponse, LLMUsage
from agentic_django.models import AgentRun, ApprovalRequest, ExecutionTrace
from agentic_django.testing import use_llm

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"
#: Every label name the metrics may carry; anything else could smuggle in user data.
ALLOWED_LABELS = {
    "endpoint",
    "status",
    "provider",
    "model",
    "purpose",
    "outcome",
    "direction",
    "policy",
    "backend",
    "kind",
    "state",
    "decision",
    "result",
    "le",
}


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def post(client, name, body, **extra):
    return client.post(
        f"/agents/{name}/", json.dumps(body), content_type="application/json", **extra
    )


def scrape(client):
    response = client.get("/agents/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        family.name: family for family in text_string_to_metric_families(response.content.decode())
    }


@pytest.fixture(autouse=True)
def metrics_token():
    with override_settings(AGENTIC_DJANGO={"METRICS_TOKEN": TOKEN}):
        yield


def test_a_request_is_counted_by_endpoint_and_status_with_its_latency(client):
    before = value("agentic_requests_total", endpoint="echo", status="completed")
    count_before = value("agentic_request_duration_seconds_count", endpoint="echo")
    assert post(client, "echo", {"intent": "show me my orders"}).status_code == 200
    assert value("agentic_requests_total", endpoint="echo", status="completed") == before + 1
    assert value("agentic_request_duration_seconds_count", endpoint="echo") == count_before + 1


def test_a_policy_denial_is_counted_by_the_policy_that_denied(client):
    before = value("agentic_policy_denials_total", policy="refund_rules")
    denied_before = value("agentic_requests_total", endpoint="denied", status="policy_denied")
    assert post(client, "denied", {"intent": "refund order 4"}).status_code == 403
    assert value("agentic_policy_denials_total", policy="refund_rules") == before + 1
    assert (
        value("agentic_requests_total", endpoint="denied", status="policy_denied")
        == denied_before + 1
    )


def test_llm_calls_count_tokens_and_cost_by_provider_model_and_purpose(client):
    reply = {"action": "read", "domain": "order", "parameters": {}, "confidence": 0.9}
    backend = FunctionBackend(
        lambda prompt: LLMResponse(
            content=json.dumps(reply), usage=LLMUsage(1000, 200), model="priced-model"
        )
    )
    settings = {
        "METRICS_TOKEN": TOKEN,
        "INTENT_PARSER_LLM": "default",
        "PRICING": {"priced-model": {"input": 3.0, "output": 15.0}},
        "LLM_BACKENDS": {
            "default": {"BACKEND": "agentic_django.llm.MockBackend", "OPTIONS": {"model": "mock"}}
        },
    }
    labels = {"provider": "mock", "model": "priced-model", "purpose": "intent_parse"}
    calls_before = value("agentic_llm_calls_total", outcome="ok", **labels)
    tokens_before = value("agentic_llm_tokens_total", direction="input", **labels)
    cost_before = value("agentic_llm_cost_usd_total", **labels)
    with override_settings(AGENTIC_DJANGO=settings), use_llm(backend):
        assert post(client, "echo", {"intent": "show me my orders"}).status_code == 200
    assert value("agentic_llm_calls_total", outcome="ok", **labels) == calls_before + 1
    assert value("agentic_llm_tokens_total", direction="input", **labels) == tokens_before + 1000
    # 1000 input tokens at $3/M and 200 output tokens at $15/M.
    assert value("agentic_llm_cost_usd_total", **labels) == pytest.approx(cost_before + 0.006)


def test_approvals_are_counted_by_state_with_the_time_a_person_took(client, user):
    trace = ExecutionTrace.objects.create(
        trace_id="t-approval", endpoint_name="echo", status="pending_approval"
    )
    created = timezone.now() - timedelta(minutes=5)
    request = ApprovalRequest(
        kind="code",
        endpoint_name="echo",
        trace=trace,
        status="approved",
        created_at=created,
        decided_at=created + timedelta(seconds=120),
    )
    requested = value("agentic_approvals_total", state="requested")
    approved = value("agentic_approvals_total", state="approved")
    waits = value("agentic_approval_wait_seconds_bucket", decision="approved", le="300.0")
    signals.approval_requested.send(sender=ApprovalRequest, request=request)
    signals.approval_decided.send(sender=ApprovalRequest, request=request, user=user)
    assert value("agentic_approvals_total", state="requested") == requested + 1
    assert value("agentic_approvals_total", state="approved") == approved + 1
    assert (
        value("agentic_approval_wait_seconds_bucket", decision="approved", le="300.0") == waits + 1
    )


def test_live_runs_are_read_from_the_database_at_scrape_time(client):
    AgentRun.objects.create(endpoint_name="chatty", status="running")
    AgentRun.objects.create(endpoint_name="chatty", status="waiting_approval")
    AgentRun.objects.create(endpoint_name="chatty", status="completed")
    samples = {
        sample.labels["status"]: sample.value
        for sample in scrape(client)["agentic_runs_live"].samples
    }
    assert samples == {"running": 1.0, "waiting_approval": 1.0}


def test_the_metrics_view_wants_the_token_or_a_staff_user(client, user, django_user_model):
    assert client.get("/agents/metrics/").status_code in (401, 403)
    assert client.get("/agents/metrics/", HTTP_AUTHORIZATION="Bearer wrong").status_code in (
        401,
        403,
    )
    client.force_login(user)
    assert client.get("/agents/metrics/").status_code == 403
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/agents/metrics/").status_code == 200
    client.logout()
    assert client.get("/agents/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_metrics_public_opens_the_view_to_anyone(client):
    assert client.get("/agents/metrics/").status_code in (401, 403)
    with override_settings(AGENTIC_DJANGO={"METRICS_PUBLIC": True}):
        assert client.get("/agents/metrics/").status_code == 200


def test_no_label_carries_user_data_or_unbounded_values(client, user):
    client.force_login(user)
    # Metrics live as long as the process: endpoints of earlier tests (registered on an
    # isolated site, gone since) may already be label values. Only new ones are judged.
    earlier = {
        sample.labels["endpoint"]
        for name, family in scrape(client).items()
        if name.startswith("agentic_")
        for sample in family.samples
        if "endpoint" in sample.labels
    }
    secret = "refund order 91357 for alice@example.com"
    body = post(client, "echo", {"intent": secret}).json()
    post(client, "denied", {"intent": secret, "session_id": body["session_id"]})
    # An unknown endpoint and a fabricated trace name do not become label values.
    post(client, "no-such-endpoint-7f3a", {"intent": secret})
    ExecutionTrace.objects.create(
        trace_id="t-free", endpoint_name="user-typed-" + secret[:20], status="completed"
    )
    families = scrape(client)
    # Short values (a user id) are compared whole; identifying text anywhere in a value.
    forbidden_values = {user.get_username(), str(user.pk)}
    forbidden_parts = {secret, body["session_id"], "91357", "alice@example.com", "user-typed"}
    endpoints = set(agents.endpoints) | {"other"} | earlier
    ours = [family for name, family in families.items() if name.startswith("agentic_")]
    assert ours, "no agentic_ metrics exposed"
    for family in ours:
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, (family.name, sample.labels)
            for label, text in sample.labels.items():
                assert text not in forbidden_values or label == "le", (family.name, label)
                assert not any(part in text for part in forbidden_parts), (family.name, text)
                assert len(text) <= 80
            if "endpoint" in sample.labels:
                assert sample.labels["endpoint"] in endpoints, sample.labels


@pytest.mark.django_db(transaction=True)
async def test_stream_events_are_counted_by_kind(close_worker_connections):
    from asgiref.sync import sync_to_async

    from agentic_django.models import AgentRun
    from agentic_django.services.run_store import EventWriter
    from agentic_django.streaming import AgentStream

    run = await AgentRun.objects.acreate(endpoint_name="chatty")
    read = sync_to_async(value)  # collecting also counts live runs in the database
    before = await read("agentic_stream_events_total", kind="partial_result")
    writer = EventWriter(run)
    stream = AgentStream(writer, run_id=run.run_id)
    await stream.emit_partial("one")
    await stream.emit_partial("two")
    await writer.drain()
    assert await read("agentic_stream_events_total", kind="partial_result") == before + 2
