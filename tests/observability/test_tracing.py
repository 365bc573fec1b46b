"""OpenTelemetry spans: the tree of a request, GenAI attributes, traceparent, approvals."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission

pytest.importorskip("opentelemetry.sdk")

from agentic_django.harness import ApprovalRule, ApprovalWorkflow
from agentic_django.models import ApprovalRequest, ExecutionTrace

pytestmark = pytest.mark.django_db

WRITES_NEED_APPROVAL = ApprovalWorkflow(
    [ApprovalRule(name="writes", require_for_actions=["write"], approvers=["user:boss"])]
)
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def boss(django_user_model):
    user = django_user_model.objects.create_user("boss", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    return user


def send(client, path, body=None, **extra):
    if body is None:
        return client.get(path, **extra)
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def by_name(exporter):
    return {span.name: span for span in exporter.get_finished_spans()}


def hex_ids(span):
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def program(code):
    return {"code": code, "reasoning": "adds them", "confidence": 0.9}


def test_a_request_span_holds_the_intent_parse_and_its_trace_id_is_stored(client, spans):
    body = send(client, "/agents/echo/", {"intent": "show me my orders"}).json()
    found = by_name(spans)
    request = found["agentic.request echo"]
    parse = found["agentic.intent.parse"]
    assert request.attributes["agentic.endpoint"] == "echo"
    assert request.attributes["agentic.trace_id"] == body["execution_trace_id"]
    assert request.attributes["http.response.status_code"] == 200
    assert parse.parent.span_id == request.context.span_id
    trace = ExecutionTrace.objects.get(trace_id=body["execution_trace_id"])
    assert (trace.otel_trace_id, trace.otel_span_id) == hex_ids(request)


def test_an_incoming_traceparent_is_continued(client, spans):
    send(
        client,
        "/agents/echo/",
        {"intent": "show me my orders"},
        HTTP_TRACEPARENT=f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
    )
    request = by_name(spans)["agentic.request echo"]
    assert hex_ids(request)[0] == CALLER_TRACE
    assert format(request.parent.span_id, "016x") == CALLER_SPAN


def test_codegen_spans_llm_call_with_genai_attributes_harness_and_sandbox(
    site, client, user, mock_llm, spans
):
    @site.agent_endpoint("ledger", codegen=True)
    async def ledger(intent):
        return {"amounts": [2, 3]}

    client.force_login(user)
    mock_llm.add_structured_response(program("result = sum(data['amounts'])"))
    secret = "show the total for alice@example.com"
    assert send(client, "/agents/ledger/", {"intent": secret}).json()["result"] == 5
    found = by_name(spans)
    request = found["agentic.request ledger"]
    llm = next(span for name, span in found.items() if name.startswith("chat "))
    assert llm.attributes["gen_ai.operation.name"] == "chat"
    assert llm.attributes["gen_ai.provider.name"] == "mock"
    assert llm.attributes["gen_ai.request.model"]
    assert llm.attributes["gen_ai.response.model"]
    assert llm.attributes["gen_ai.usage.input_tokens"] > 0
    assert llm.attributes["agentic.llm.purpose"] == "code_generate"
    assert "agentic.llm.cost_usd" in llm.attributes
    assert llm.parent.span_id == request.context.span_id
    harness = found["agentic.harness"]
    sandbox = found["agentic.sandbox.execute"]
    assert harness.parent.span_id == request.context.span_id
    assert sandbox.parent.span_id == harness.context.span_id
    assert sandbox.attributes["agentic.sandbox.backend"] == "forkserver"
    assert sandbox.attributes["agentic.sandbox.limit.wall_seconds"] > 0
    assert "agentic.static_analysis" in [event.name for event in harness.events]
    # Prompts and completions are not recorded: the intent appears in no attribute.
    for span in spans.get_finished_spans():
        for value in span.attributes.values():
            assert "alice@example.com" not in str(value), span.name


def test_an_approved_action_runs_in_a_span_linked_to_the_request_that_paused(
    site, client, user, boss, mock_llm, spans, django_capture_on_commit_callbacks
):
    @site.agent_endpoint("ledger", codegen=True, approval=WRITES_NEED_APPROVAL)
    async def ledger(intent):
        return {"amounts": [2, 3]}

    client.force_login(user)
    mock_llm.add_structured_response(program("result = sum(data['amounts']) * 2"))
    paused = send(client, "/agents/ledger/", {"intent": "update the total"})
    assert paused.status_code == 202
    approval = paused.json()["approval_request"]
    paused_span = by_name(spans)["agentic.request ledger"]
    spans.clear()

    client.force_login(boss)
    # The approval signals are sent once the decision is committed.
    with django_capture_on_commit_callbacks(execute=True):
        body = send(client, f"{approval['url']}decision/", {"decision": "approve"}).json()
    assert body["status"] == "executed"
    found = by_name(spans)
    execute = found["agentic.approval.execute"]
    assert execute.attributes["agentic.approval.kind"] == "code"
    assert [hex_ids_of(link.context) for link in execute.links] == [hex_ids(paused_span)]
    decided = found["agentic.approval.decided"]
    assert [hex_ids_of(link.context) for link in decided.links] == [hex_ids(paused_span)]
    harness = found["agentic.harness"]
    assert harness.parent.span_id == execute.context.span_id
    assert found["agentic.sandbox.execute"].parent.span_id == harness.context.span_id
    # Stopping for approval is an outcome, not an error of the paused request.
    assert paused_span.attributes["agentic.outcome"] == "pending_approval"
    assert paused_span.status.status_code.name != "ERROR"
    stored = ApprovalRequest.objects.get(request_id=approval["id"])
    carried = ExecutionTrace.objects.get(approval_request=stored)
    assert carried.otel_trace_id == hex_ids(execute)[0]


def hex_ids_of(context):
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_the_admin_trace_page_links_to_the_span_tree(admin_client, client, spans, settings):
    body = send(client, "/agents/echo/", {"intent": "show me my orders"}).json()
    trace = ExecutionTrace.objects.get(trace_id=body["execution_trace_id"])
    assert trace.otel_trace_id
    settings.AGENTIC_DJANGO = {"OTEL_TRACE_URL": "https://traces.example/trace/{trace_id}"}
    page = admin_client.get(f"/admin/agentic_django/executiontrace/{trace.pk}/change/")
    assert page.status_code == 200
    assert f'href="https://traces.example/trace/{trace.otel_trace_id}"' in page.content.decode()


def test_a_background_task_on_a_worker_continues_the_request_trace(spans):
    from celery.signals import before_task_publish
    from opentelemetry import trace

    from agentic_django.tasks import run_agent_task

    headers: dict = {}
    with trace.get_tracer("test").start_as_current_span("the request") as request:
        # What Celery does when the request sends the task to the broker.
        before_task_publish.send(sender="agentic_django.run_agent_task", headers=headers, body=())
    assert headers["traceparent"].split("-")[1] == format(
        request.get_span_context().trace_id, "032x"
    )
    # The worker side, run eagerly with the message headers the broker would deliver.
    run_agent_task.apply(("tests.testapp.agents.record_group", ["traced"], {}), headers=headers)
    task = by_name(spans)["agentic.task tests.testapp.agents.record_group"]
    assert task.context.trace_id == request.get_span_context().trace_id
    assert task.parent.span_id == request.get_span_context().span_id
    assert task.status.status_code.name != "ERROR"


def lookup_order(order_id: int) -> dict:
    """Look up one order by its id."""
    return {"id": order_id, "status": "shipped"}


def test_each_tool_call_of_an_agentic_loop_is_a_span(site, client, user, mock_llm, spans):
    from agentic_django.llm import ToolCall

    @site.agent_endpoint("support", description="Answers order questions.", tools=[lookup_order])
    async def support(intent, context):
        return None

    client.force_login(user)  # agent endpoints need an authenticated caller by default

    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="lookup_order", arguments={"order_id": 7})
    )
    mock_llm.add_response("Order 7 has shipped.")
    assert send(client, "/agents/support/", {"intent": "where is order 7?"}).status_code == 200
    found = by_name(spans)
    tool = found["agentic.tool lookup_order"]
    request = found["agentic.request support"]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "lookup_order"
    assert tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert tool.context.trace_id == request.context.trace_id
    # Tool arguments are data: they are not recorded on the span.
    assert not any(str(value) == "7" for value in tool.attributes.values())
    llm_calls = [span for name, span in found.items() if name.startswith("chat ")]
    assert llm_calls and all(
        span.context.trace_id == request.context.trace_id for span in llm_calls
    )


def test_under_a_server_span_of_the_django_instrumentation_ours_is_its_child(client, spans):
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    # What opentelemetry-instrumentation-django opens around the view (it has read the
    # traceparent already): one server span, ours nested, no second server span.
    with trace.get_tracer("instrumentation").start_as_current_span(
        "POST agents/<name>/", kind=SpanKind.SERVER
    ) as server:
        send(
            client,
            "/agents/echo/",
            {"intent": "show me my orders"},
            HTTP_TRACEPARENT=f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
        )
    request = by_name(spans)["agentic.request echo"]
    assert request.parent.span_id == server.get_span_context().span_id
    assert request.kind == SpanKind.INTERNAL
    servers = [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert [span.name for span in servers] == ["POST agents/<name>/"]


CONTENT_ATTRIBUTES = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
)
RECORDING_BACKENDS = {
    "INTENT_PARSER_LLM": "default",
    "LLM_BACKENDS": {
        "default": {"BACKEND": "agentic_django.llm.MockBackend", "OPTIONS": {"model": "m"}}
    },
}


def llm_spans(exporter):
    return [span for span in exporter.get_finished_spans() if span.name.startswith("chat ")]


def test_prompts_and_completions_are_recorded_only_when_turned_on_and_redacted(
    client, spans, settings
):
    from agentic_django.llm import FunctionBackend, LLMResponse, LLMUsage
    from agentic_django.testing import use_llm

    reply = {"action": "read", "domain": "order", "parameters": {}, "confidence": 0.9}
    text = json.dumps({**reply, "note": "write to alice@example.com"})
    backend = FunctionBackend(lambda prompt: LLMResponse(content=text, usage=LLMUsage(10, 5)))
    intent = {"intent": "show the orders of carol@example.com"}

    # Off by default: no content attribute at all, and the intent appears nowhere.
    settings.AGENTIC_DJANGO = RECORDING_BACKENDS
    with use_llm(backend):
        send(client, "/agents/echo/", intent)
    (span,) = llm_spans(spans)
    assert not set(CONTENT_ATTRIBUTES) & set(span.attributes)
    assert not any("carol" in str(value) for value in span.attributes.values())
    spans.clear()

    settings.AGENTIC_DJANGO = {**RECORDING_BACKENDS, "OTEL_RECORD_CONTENT": True}
    with use_llm(backend):
        send(client, "/agents/echo/", intent)
    (span,) = llm_spans(spans)
    system = json.loads(span.attributes["gen_ai.system_instructions"])
    assert system[0]["type"] == "text" and system[0]["content"] == backend.prompts[0].system
    messages = json.loads(span.attributes["gen_ai.input.messages"])
    user_text = " ".join(
        part["content"]
        for message in messages
        if message["role"] == "user"
        for part in message["parts"]
    )
    assert "show the orders of [REDACTED:EMAIL]" in user_text
    output = json.loads(span.attributes["gen_ai.output.messages"])
    assert output[0]["role"] == "assistant"
    completion = json.loads(output[0]["parts"][0]["content"])
    assert completion["domain"] == "order"
    assert completion["note"] == "write to [REDACTED:EMAIL]"
    for value in span.attributes.values():
        assert "@example.com" not in str(value)


def find_customer(email: str) -> dict:
    """Find a customer by email address."""
    return {"email": email, "orders": 2}


def test_recorded_prompts_carry_tool_calls_and_results_redacted(
    site, client, user, spans, settings
):
    from agentic_django.llm import MockBackend, ToolCall
    from agentic_django.testing import use_llm

    @site.agent_endpoint("support", description="Answers questions.", tools=[find_customer])
    async def support(intent, context):
        return None

    client.force_login(user)
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "OTEL_RECORD_CONTENT": True}
    with use_llm(MockBackend()) as mock:
        mock.add_tool_call_response(
            ToolCall(id="c1", name="find_customer", arguments={"email": "dave@example.com"})
        )
        mock.add_response("Dave has 2 orders.")
        assert send(client, "/agents/support/", {"intent": "orders of dave?"}).status_code == 200
    # The call that answered saw the tool call and its result in its prompt.
    last = llm_spans(spans)[-1]
    parts = [
        part
        for message in json.loads(last.attributes["gen_ai.input.messages"])
        for part in message["parts"]
    ]
    call = next(part for part in parts if part["type"] == "tool_call")
    assert call == {
        "type": "tool_call",
        "id": "c1",
        "name": "find_customer",
        "arguments": {"email": "[REDACTED:EMAIL]"},
    }
    result = next(part for part in parts if part["type"] == "tool_call_response")
    assert result["id"] == "c1"
    assert "[REDACTED:EMAIL]" in result["response"] and "dave@" not in result["response"]
    # The tool span itself still carries no arguments, content recording or not.
    tool = by_name(spans)["agentic.tool find_customer"]
    assert not any(
        "REDACTED" in str(value) or "dave" in str(value) for value in tool.attributes.values()
    )
