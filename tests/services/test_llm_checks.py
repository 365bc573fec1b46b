from __future__ import annotations

from django.test import override_settings

from agentic_django import checks as agentic_checks
from agentic_django.llm import LLMBackend
from agentic_django.testing import isolated_agents


def ids(messages):
    return [m.id for m in messages]


@override_settings(AGENTIC_DJANGO={"INTENT_PARSER_LLM": "parser"})
def test_an_unconfigured_parser_alias_is_an_error():
    assert agentic_checks.E006_UNKNOWN_LLM_ALIAS in ids(agentic_checks.check_llm_backends())


def test_an_endpoint_alias_that_is_not_configured_is_an_error():
    with isolated_agents() as site:

        @site.agent_endpoint("needs_llm", llm="smart")
        async def needs_llm(intent, context, llm: LLMBackend):
            return None

        messages = agentic_checks.check_llm_backends()
    assert any("smart" in m.msg and m.id == agentic_checks.E006_UNKNOWN_LLM_ALIAS for m in messages)


@override_settings(
    AGENTIC_DJANGO={
        "LLM_BACKENDS": {
            "priced": {
                "BACKEND": "agentic_django.llm.AnthropicBackend",
                "OPTIONS": {"model": "claude-sonnet-4-6"},
            },
            "unpriced": {
                "BACKEND": "agentic_django.llm.OpenAIBackend",
                "OPTIONS": {"model": "my-finetune-v9"},
            },
            "mock": {"BACKEND": "agentic_django.llm.MockBackend"},
        }
    }
)
def test_models_without_a_price_get_a_warning():
    messages = agentic_checks.check_llm_backends()
    warnings = [m for m in messages if m.id == agentic_checks.W002_UNPRICED_MODEL]
    assert len(warnings) == 1 and "my-finetune-v9" in warnings[0].msg


@override_settings(
    AGENTIC_DJANGO={
        "LLM_BACKENDS": {"broken": {"BACKEND": "nowhere.Backend"}, "shapeless": "anthropic"}
    }
)
def test_malformed_backend_configs_are_errors():
    assert ids(agentic_checks.check_llm_backends()).count(agentic_checks.E007_BAD_LLM_BACKEND) == 2


@override_settings(
    AGENTIC_DJANGO={
        "PRICING": {"my-finetune-v9": {"input": 1, "output": 2}},
        "LLM_BACKENDS": {
            "x": {
                "BACKEND": "agentic_django.llm.OpenAIBackend",
                "OPTIONS": {"model": "my-finetune-v9"},
            }
        },
    }
)
def test_pricing_from_settings_silences_the_warning():
    assert agentic_checks.W002_UNPRICED_MODEL not in ids(agentic_checks.check_llm_backends())
