from __future__ import annotations

import json
import sys
from typing import Any

import httpx2
import pytest

from agentic_django.core.exceptions import (
    LLMConfigurationError,
    LLMNetworkBlocked,
    LLMProviderError,
)
from agentic_django.llm import (
    LLMMessage,
    LLMPrompt,
    LLMUsage,
    OpenAIBackend,
    ToolCall,
    forbid_real_calls,
)
from agentic_django.llm.openai import strict_schema

from .scripted import FAST_RETRY, ScriptedHTTP, sse

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def completion(message: dict[str, Any], finish_reason: str = "stop") -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "refusal": None, **message},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62},
        },
    )


def error(status: int, text: str, **headers: str) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers,
        json={
            "error": {"message": text, "type": "invalid_request_error", "param": None, "code": None}
        },
    )


def backend(http: ScriptedHTTP) -> OpenAIBackend:
    return OpenAIBackend(api_key="sk-test", http_client=http.client(), retry=FAST_RETRY)


def ask(text: str = "hi") -> LLMPrompt:
    return LLMPrompt(system="s", messages=[LLMMessage(role="user", content=text)])


async def test_multi_turn_tool_conversation_round_trips_the_wire_format() -> None:
    http = ScriptedHTTP(
        completion(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
            },
            finish_reason="tool_calls",
        )
    )
    prompt = LLMPrompt(
        system="You are helpful.",
        messages=[
            LLMMessage(role="user", content="Weather in Paris and Rome?"),
            LLMMessage(
                role="assistant",
                tool_calls=[ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})],
            ),
            LLMMessage(role="tool", content="18C, sunny", tool_call_id="call_1"),
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        temperature=0.2,
        max_tokens=256,
    )

    response = await backend(http).generate(prompt)

    assert http.requests[0].url.path == "/v1/chat/completions"
    assert http.requests[0].headers["authorization"] == "Bearer sk-test"
    assert http.bodies[0] == {
        "model": "gpt-4o-mini",
        "max_completion_tokens": 256,
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": WEATHER_TOOL["parameters"],
                },
            }
        ],
        "tool_choice": "auto",
    }
    assert response.content == ""
    assert response.tool_calls == [
        ToolCall(id="call_2", name="get_weather", arguments={"city": "Rome"})
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == LLMUsage(50, 12)
    assert response.model == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("required", "required"),
        ("none", "none"),
        ({"name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
async def test_tool_choice_is_translated(choice: object, wire: object) -> None:
    http = ScriptedHTTP(completion({"content": "ok"}))
    prompt = LLMPrompt(
        system="s",
        messages=[LLMMessage(role="user", content="hi")],
        tools=[WEATHER_TOOL],
        tool_choice=choice,  # type: ignore[arg-type]
    )
    await backend(http).generate(prompt)
    assert http.bodies[0]["tool_choice"] == wire


async def test_malformed_tool_arguments_become_empty_dict_with_error() -> None:
    http = ScriptedHTTP(
        completion(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{city: Rome"},
                    }
                ],
            },
            finish_reason="tool_calls",
        )
    )
    response = await backend(http).generate(ask())
    (call,) = response.tool_calls
    assert call.arguments == {}
    assert call.parse_error is not None and "not valid JSON" in call.parse_error


async def test_structured_output_sends_a_strict_json_schema() -> None:
    schema = {
        "title": "OrderFilters",
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "limit": {"type": "integer", "default": 10},
        },
        "required": ["status"],
    }
    http = ScriptedHTTP(completion({"content": '{"status": "shipped", "limit": 5}'}))
    prompt = LLMPrompt(
        system="Extract.", messages=[LLMMessage(role="user", content="x")], response_schema=schema
    )

    response = await backend(http).generate(prompt)

    assert http.bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "OrderFilters",
            "strict": True,
            "schema": {
                "title": "OrderFilters",
                "type": "object",
                "properties": {"status": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["status", "limit"],
                "additionalProperties": False,
            },
        },
    }
    assert json.loads(response.content) == {"status": "shipped", "limit": 5}
    assert response.finish_reason == "stop"


def test_strict_schema_closes_nested_objects_and_definitions() -> None:
    schema = {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"}, "default": {"type": "string"}},
        "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    }
    strict = strict_schema(schema)
    assert strict["required"] == ["item", "default"]
    assert strict["$defs"]["Item"]["additionalProperties"] is False
    assert strict["$defs"]["Item"]["required"] == ["sku"]


async def test_stream_yields_text_then_assembled_tool_calls_and_usage() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def call_delta(**fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": 0, **fields}]}

    http = ScriptedHTTP(
        sse(
            [
                (None, chunk({"role": "assistant", "content": ""})),
                (None, chunk({"content": "Let me "})),
                (None, chunk({"content": "look."})),
                (
                    None,
                    chunk(
                        call_delta(
                            id="call_9",
                            type="function",
                            function={"name": "get_weather", "arguments": ""},
                        )
                    ),
                ),
                (None, chunk(call_delta(function={"arguments": '{"city": '}))),
                (None, chunk(call_delta(function={"arguments": '"Oslo"}'}))),
                (None, chunk({}, finish="tool_calls")),
                (
                    None,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion.chunk",
                        "created": 1700000000,
                        "model": "gpt-4o-mini",
                        "choices": [],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
                    },
                ),
                (None, "[DONE]"),
            ]
        )
    )
    prompt = LLMPrompt(
        system="s", messages=[LLMMessage(role="user", content="Oslo?")], tools=[WEATHER_TOOL]
    )

    chunks = [c async for c in backend(http).generate_stream(prompt)]

    assert http.bodies[0]["stream"] is True
    assert http.bodies[0]["stream_options"] == {"include_usage": True}
    assert [c.content for c in chunks if not c.is_final] == ["Let me ", "look."]
    final = chunks[-1]
    assert final.is_final
    assert final.tool_calls == [
        ToolCall(id="call_9", name="get_weather", arguments={"city": "Oslo"})
    ]
    assert final.usage == LLMUsage(20, 9)
    assert final.finish_reason == "tool_calls"


async def test_rate_limit_is_retried_then_succeeds() -> None:
    http = ScriptedHTTP(
        error(429, "Rate limit reached", **{"retry-after": "0"}), completion({"content": "fine"})
    )
    response = await backend(http).generate(ask())
    assert len(http.requests) == 2
    assert response.content == "fine"


async def test_bad_request_is_not_retried_and_carries_provider_message() -> None:
    http = ScriptedHTTP(error(400, "Invalid 'messages[1].content': string too long"))
    with pytest.raises(LLMProviderError) as caught:
        await backend(http).generate(ask())
    assert len(http.requests) == 1
    assert caught.value.status_code == 400
    assert caught.value.provider == "openai"
    assert "string too long" in str(caught.value)


def test_missing_api_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMConfigurationError, match="OPENAI_API_KEY"):
        OpenAIBackend()


def test_missing_sdk_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(LLMConfigurationError, match=r"django-agentic-endpoints\[openai\]"):
        OpenAIBackend(api_key="sk-test")


async def test_forbidden_real_calls_block_before_any_request() -> None:
    http = ScriptedHTTP(completion({"content": "never"}))
    llm = backend(http)
    forbid_real_calls(True)
    with pytest.raises(LLMNetworkBlocked):
        await llm.generate(ask())
    assert http.requests == []


async def test_temperature_none_is_left_to_the_provider() -> None:
    http = ScriptedHTTP(completion({"content": "ok"}))
    prompt = LLMPrompt(
        system="", messages=[LLMMessage(role="user", content="hi")], temperature=None
    )
    await backend(http).generate(prompt)
    assert "temperature" not in http.bodies[0]
    assert http.bodies[0]["messages"] == [{"role": "user", "content": "hi"}]
