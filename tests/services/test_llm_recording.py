"""LLM backends by alias, intent parsing with an LLM, and the recording of every call."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import override_settings
from pydantic import BaseModel

from agentic_django import Intent
from agentic_django.core.exceptions import LLMConfigurationError, LLMProviderError
from agentic_django.llm import (
    AnthropicBackend,
    FunctionBackend,
    LLMBackend,
    LLMMessage,
    LLMPrompt,
    LLMResponse,
    LLMUsage,
    MockBackend,
    real_calls_forbidden,
)
from agentic_django.models import ExecutionTrace, LLMCall
from agentic_django.services.llm import llm_backends
from agentic_django.testing import isolated_agents, use_llm

pytestmark = pytest.mark.django_db

PARSE_WITH_DEFAULT = {
    "INTENT_PARSER_LLM": "default",
    "LLM_BACKENDS": {
        "default": {"BACKEND": "agentic_django.llm.MockBackend", "OPTIONS": {"model": "mock"}}
    },
}


def post(client, name, body):
    return client.post(f"/agents/{name}/", json.dumps(body), content_type="application/json")


def classification(**overrides):
    reply = {
        "action": "write",
        "domain": "order",
        "parameters": {"order_id": 7},
        "confidence": 0.9,
        "ambiguities": [],
    }
    reply.update(overrides)
    return LLMResponse(
        content=json.dumps(reply),
        usage=LLMUsage(1000, 200),
        model="priced-model",
        finish_reason="stop",
    )


@override_settings(
    AGENTIC_DJANGO={
        "LLM_BACKENDS": {
            "fast": {
                "BACKEND": "agentic_django.llm.MockBackend",
                "OPTIONS": {"responses": ["hi"], "model": "m1"},
            }
        }
    }
)
def test_backends_are_built_from_settings_once_per_alias():
    backend = llm_backends["fast"]
    assert isinstance(backend, MockBackend)
    assert backend.model_name == "m1"
    assert llm_backends["fast"] is backend
    with pytest.raises(LLMConfigurationError, match="'slow'"):
        llm_backends["slow"]


def test_settings_changes_rebuild_backends():
    config = {"LLM_BACKENDS": {"a": {"BACKEND": "agentic_django.llm.MockBackend"}}}
    with override_settings(AGENTIC_DJANGO=config):
        first = llm_backends["a"]
    with override_settings(AGENTIC_DJANGO=config):
        assert llm_backends["a"] is not first


def test_real_provider_calls_are_forbidden_in_the_test_settings():
    assert real_calls_forbidden()


@override_settings(
    AGENTIC_DJANGO={
        "FORBID_REAL_LLM_CALLS": True,
        "INTENT_PARSER_LLM": "default",
        "LLM_BACKENDS": {
            "default": {
                "BACKEND": "agentic_django.llm.AnthropicBackend",
                "OPTIONS": {"api_key": "sk-test-not-real"},
            }
        },
    }
)
def test_a_real_backend_refuses_to_call_out_when_forbidden(client):
    assert isinstance(llm_backends["default"], AnthropicBackend)
    response = post(client, "echo", {"intent": "show orders"})
    assert response.status_code == 500
    trace = ExecutionTrace.objects.get()
    assert "LLMNetworkBlocked" in trace.error_type
    call = LLMCall.objects.get()
    assert call.provider == "anthropic" and "LLMNetworkBlocked" in call.error


@override_settings(
    AGENTIC_DJANGO={
        **PARSE_WITH_DEFAULT,
        "PRICING": {"priced-model": {"input": 3.0, "output": 15.0}},
    }
)
def test_llm_parsing_is_recorded_with_tokens_and_cost_aggregated_on_the_trace(client):
    with use_llm(FunctionBackend(lambda prompt: classification())):
        body = post(client, "echo", {"intent": "cancel order 7"}).json()
    assert body["result"]["action"] == "write"
    trace = ExecutionTrace.objects.get(trace_id=body["execution_trace_id"])
    assert trace.intent_parameters == {"order_id": 7}
    assert trace.intent_confidence == 0.9
    call = trace.llm_calls.get()
    assert (call.purpose, call.alias, call.provider, call.model) == (
        "intent_parse",
        "default",
        "mock",
        "priced-model",
    )
    assert (call.input_tokens, call.output_tokens, call.finish_reason) == (1000, 200, "stop")
    # 1000 * 3 / 1e6 + 200 * 15 / 1e6
    assert call.cost_usd == Decimal("0.006000")
    assert (trace.input_tokens, trace.output_tokens, trace.cost_usd) == (1000, 200, call.cost_usd)
    assert call.latency_ms >= 0
    assert call.price_source == "setting"


@override_settings(AGENTIC_DJANGO=PARSE_WITH_DEFAULT)
def test_a_model_the_settings_do_not_price_is_priced_by_genai_prices(client):
    import dataclasses

    reply = dataclasses.replace(classification(), model="claude-sonnet-4-6")
    with use_llm(FunctionBackend(lambda prompt: reply)):
        body = post(client, "echo", {"intent": "cancel order 7"}).json()
    call = ExecutionTrace.objects.get(trace_id=body["execution_trace_id"]).llm_calls.get()
    assert call.price_source == "genai-prices"
    # 1000 input tokens at $3/M and 200 output tokens at $15/M.
    assert call.cost_usd == Decimal("0.006000")


@override_settings(AGENTIC_DJANGO=PARSE_WITH_DEFAULT)
def test_an_unusable_parser_reply_falls_back_to_keywords(client):
    with use_llm(FunctionBackend(lambda prompt: "I'd rather chat")):
        body = post(client, "echo", {"intent": "show my orders"}).json()
    assert body["status"] == "completed"
    assert body["result"]["domain"] == "order"
    assert LLMCall.objects.count() == 1


@override_settings(AGENTIC_DJANGO=PARSE_WITH_DEFAULT)
def test_a_provider_outage_during_parsing_is_a_502_and_recorded(client):
    def down(prompt):
        raise LLMProviderError("overloaded for good", provider="mock", status_code=500)

    with use_llm(FunctionBackend(down)):
        response = post(client, "echo", {"intent": "show my orders"})
    assert response.status_code == 502
    assert ExecutionTrace.objects.get().status == "error"
    assert "overloaded for good" in LLMCall.objects.get().error


@override_settings(AGENTIC_DJANGO=PARSE_WITH_DEFAULT)
def test_callers_get_a_generic_message_and_a_code_for_a_provider_error(client):
    def down(prompt):
        raise LLMProviderError(
            "quota exceeded for organisation acme-widgets", provider="mock", status_code=429
        )

    with use_llm(FunctionBackend(down)):
        response = post(client, "echo", {"intent": "show my orders"})
    body = response.json()
    assert response.status_code == 502
    assert "acme-widgets" not in json.dumps(body)
    assert body["details"] == {"code": "llm_provider_error"}
    assert body["error"] == "The language model provider returned an error."
    # The operator still reads what the provider said.
    assert "acme-widgets" in ExecutionTrace.objects.get().error


class Refund(BaseModel):
    order_id: int
    amount: Decimal


@override_settings(AGENTIC_DJANGO=PARSE_WITH_DEFAULT)
def test_typed_intents_use_structured_output_and_reach_the_handler(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default
    backend = MockBackend(structured_responses=[{"order_id": 12, "amount": "9.50"}])
    with isolated_agents() as site, use_llm(backend):

        @site.agent_endpoint("refund")
        async def refund(intent: Intent[Refund], context):
            return {"order": intent.params.order_id, "amount": str(intent.params.amount)}

        body = post(client, "refund", {"intent": "refund order 12, 9.50 euros"}).json()
    assert body["result"] == {"order": 12, "amount": "9.50"}
    (prompt,) = backend.prompts
    assert prompt.response_schema["title"] == "Refund"


@override_settings(AGENTIC_DJANGO=PARSE_WITH_DEFAULT)
def test_a_typed_intent_that_cannot_be_satisfied_says_which_fields_failed(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default
    backend = MockBackend(structured_responses=[{"order_id": "x"}, {"order_id": "still x"}])
    with isolated_agents() as site, use_llm(backend):

        @site.agent_endpoint("refund")
        async def refund(intent: Intent[Refund], context):
            return {"params": intent.params, "ambiguities": intent.ambiguities}

        body = post(client, "refund", {"intent": "refund something"}).json()
    assert body["result"]["params"] is None
    assert "order_id" in " ".join(body["result"]["ambiguities"])
    assert backend.call_count == 2  # retried once with the validation errors
    assert LLMCall.objects.count() == 2


@override_settings(
    AGENTIC_DJANGO={
        "LLM_BACKENDS": {
            "fast": {"BACKEND": "agentic_django.llm.MockBackend", "OPTIONS": {"model": "mock"}}
        }
    }
)
def test_handlers_can_ask_for_the_endpoint_llm_and_their_calls_are_recorded(client, user):
    client.force_login(user)  # agent endpoints need a logged-in caller by default
    backend = MockBackend(responses=["a haiku about orders"])
    with isolated_agents() as site, use_llm(backend, alias="fast"):

        @site.agent_endpoint("poet", llm="fast")
        async def poet(intent, context, llm: LLMBackend):
            reply = await llm.generate(
                LLMPrompt(system="Write poems.", messages=[LLMMessage("user", intent.raw)])
            )
            return {"poem": reply.content}

        body = post(client, "poet", {"intent": "write a poem"}).json()
    assert body["result"] == {"poem": "a haiku about orders"}
    call = LLMCall.objects.get()
    assert (call.purpose, call.alias, call.endpoint_name) == ("handler", "fast", "poet")


def test_the_llm_option_must_be_an_alias():
    from django.core.exceptions import ImproperlyConfigured

    with isolated_agents() as site, pytest.raises(ImproperlyConfigured, match="alias"):
        site.agent_endpoint("x", llm=MockBackend())(lambda intent, context: None)


@override_settings(
    AGENTIC_DJANGO={"LLM_BACKENDS": {"reports": {"BACKEND": "agentic_django.llm.AnthropicBackend"}}}
)
def test_a_backend_without_its_key_tells_the_client_only_that_the_provider_is_unavailable(
    client, monkeypatch, caplog
):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    response = post(client, "reports", {"intent": "quarterly totals"})
    assert response.status_code == 500  # a server configuration error
    body = response.json()
    # Nothing about packages, keys or environment variables for an API client...
    assert body["error"] == "LLM provider unavailable"
    assert "ANTHROPIC_API_KEY" not in json.dumps(body)
    # ...which the operator finds in the log and on the trace.
    trace = ExecutionTrace.objects.get()
    assert "ANTHROPIC_API_KEY" in trace.error
    assert "ANTHROPIC_API_KEY" in caplog.text
