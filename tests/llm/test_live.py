"""Calls to the real providers; each runs only when its API key is set."""

from __future__ import annotations

import json
import os

import pytest

from agentic_django.llm import (
    AnthropicBackend,
    GeminiBackend,
    LLMBackend,
    LLMMessage,
    LLMPrompt,
    OpenAIBackend,
)

pytestmark = pytest.mark.live

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _backends() -> list[object]:
    def needs(*names: str) -> pytest.MarkDecorator:
        return pytest.mark.skipif(
            not any(os.environ.get(n) for n in names), reason=f"set {' or '.join(names)}"
        )

    return [
        pytest.param(
            lambda: AnthropicBackend(model="claude-haiku-4-5"),
            id="anthropic",
            marks=needs("ANTHROPIC_API_KEY"),
        ),
        pytest.param(
            lambda: OpenAIBackend(model="gpt-4o-mini"), id="openai", marks=needs("OPENAI_API_KEY")
        ),
        pytest.param(
            lambda: GeminiBackend(model="gemini-2.5-flash"),
            id="gemini",
            marks=needs("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        ),
    ]


@pytest.mark.parametrize("make", _backends())
async def test_live_text_reply(make) -> None:  # type: ignore[no-untyped-def]
    llm: LLMBackend = make()
    response = await llm.generate(
        LLMPrompt(
            system="Answer with one word.",
            messages=[LLMMessage(role="user", content="Capital of France?")],
        )
    )
    assert "paris" in response.content.lower()
    assert response.usage.input_tokens > 0


@pytest.mark.parametrize("make", _backends())
async def test_live_forced_tool_call(make) -> None:  # type: ignore[no-untyped-def]
    llm: LLMBackend = make()
    response = await llm.generate(
        LLMPrompt(
            system="Use the tool.",
            messages=[LLMMessage(role="user", content="What's the weather in Oslo?")],
            tools=[TOOL],
            tool_choice="required",
        )
    )
    assert response.tool_calls and response.tool_calls[0].name == "get_weather"
    assert "oslo" in str(response.tool_calls[0].arguments.get("city", "")).lower()


@pytest.mark.parametrize("make", _backends())
async def test_live_structured_output(make) -> None:  # type: ignore[no-untyped-def]
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    llm: LLMBackend = make()
    response = await llm.generate(
        LLMPrompt(
            system="Extract the place.",
            messages=[LLMMessage(role="user", content="I live in Lyon, France.")],
            response_schema=schema,
            response_schema_name="Place",
        )
    )
    assert json.loads(response.content)["city"].lower() == "lyon"


@pytest.mark.parametrize("make", _backends())
async def test_live_stream(make) -> None:  # type: ignore[no-untyped-def]
    llm: LLMBackend = make()
    chunks = [
        c
        async for c in llm.generate_stream(
            LLMPrompt(
                system="Be brief.", messages=[LLMMessage(role="user", content="Count from 1 to 5.")]
            )
        )
    ]
    assert chunks[-1].is_final
    assert "3" in "".join(c.content for c in chunks)
