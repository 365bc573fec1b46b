"""One retry layer: the SDKs' own retries never multiply ours.

The provider SDKs retry 429/5xx themselves (twice by default, honouring
``Retry-After``). Our backends retry with :class:`RetryConfig` and switch the SDK's
off, including on a client the project built and passed in; otherwise a request
failing with 429 would be sent (2 + 1) * (retries + 1) times.
"""

from __future__ import annotations

import pytest

from agentic_django.core.exceptions import LLMProviderError
from agentic_django.llm import AnthropicBackend, LLMMessage, LLMPrompt, OpenAIBackend

from . import test_anthropic, test_openai
from .scripted import FAST_RETRY, ScriptedHTTP

PROMPT = LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")])
ATTEMPTS = FAST_RETRY.max_retries + 1


def always_rate_limited(error):
    # More 429s than any stacking of the two layers could ask for.
    return ScriptedHTTP(*(error() for _ in range(30)))


def anthropic_429():
    return test_anthropic.error(429, "rate_limit_error", "slow down", **{"retry-after": "0"})


def openai_429():
    return test_openai.error(429, "Rate limit reached", **{"retry-after": "0"})


async def fails(backend):
    with pytest.raises(LLMProviderError):
        await backend.generate(PROMPT)


async def test_anthropic_sends_each_request_retries_plus_one_times():
    http = always_rate_limited(anthropic_429)
    await fails(AnthropicBackend(api_key="sk-test", http_client=http.client(), retry=FAST_RETRY))
    assert len(http.requests) == ATTEMPTS


async def test_anthropic_turns_off_the_retries_of_a_client_passed_in():
    import anthropic

    http = always_rate_limited(anthropic_429)
    client = anthropic.AsyncAnthropic(api_key="sk-test", http_client=http.client())
    assert client.max_retries > 0  # the SDK's default would stack on ours
    await fails(AnthropicBackend(client=client, retry=FAST_RETRY))
    assert len(http.requests) == ATTEMPTS


async def test_openai_sends_each_request_retries_plus_one_times():
    http = always_rate_limited(openai_429)
    await fails(OpenAIBackend(api_key="sk-test", http_client=http.client(), retry=FAST_RETRY))
    assert len(http.requests) == ATTEMPTS


async def test_openai_turns_off_the_retries_of_a_client_passed_in():
    import openai

    http = always_rate_limited(openai_429)
    client = openai.AsyncOpenAI(api_key="sk-test", http_client=http.client())
    assert client.max_retries > 0
    await fails(OpenAIBackend(client=client, retry=FAST_RETRY))
    assert len(http.requests) == ATTEMPTS
