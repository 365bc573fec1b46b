from __future__ import annotations

import json
import sys

import httpx2
import pytest

from agentic_django.core.exceptions import (
    LLMConfigurationError,
    LLMNetworkBlocked,
    LLMProviderError,
)
from agentic_django.llm import (
    AnthropicBackend,
    LLMMessage,
    LLMPrompt,
    LLMUsage,
    ToolCall,
    forbid_real_calls,
)

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


def message(content: list[dict], stop_reason: str = "end_turn", **usage: int) -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.get("input", 10),
                "output_tokens": usage.get("output", 5),
            },
        },
    )


def error(status: int, kind: str, text: str, **headers: str) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers,
        json={"type": "error", "error": {"type": kind, "message": text}},
    )


def backend(http: ScriptedHTTP) -> AnthropicBackend:
    return AnthropicBackend(api_key="sk-test", http_client=http.client(), retry=FAST_RETRY)


async def test_multi_turn_tool_conversation_round_trips_the_wire_format() -> None:
    http = ScriptedHTTP(
        message(
            [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
            stop_reason="tool_use",
            input=120,
            output=30,
        )
    )
    prompt = LLMPrompt(
        system="You are helpful.",
        messages=[
            LLMMessage(role="user", content="Weather in Paris and Rome?"),
            LLMMessage(
                role="assistant",
                content="",
                tool_calls=[
                    ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Paris"})
                ],
            ),
            LLMMessage(role="tool", content="18C, sunny", tool_call_id="toolu_1"),
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        temperature=0.0,
    )

    response = await backend(http).generate(prompt)

    assert http.requests[0].url.path == "/v1/messages"
    headers = http.requests[0].headers
    assert "sk-test" in headers.get("x-api-key", "") + headers.get("authorization", "")
    assert http.bodies[0] == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 4096,
        "system": "You are helpful.",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"}
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Current weather for a city",
                "input_schema": WEATHER_TOOL["parameters"],
            }
        ],
        "tool_choice": {"type": "auto"},
    }
    assert response.content == "Checking."
    assert response.tool_calls == [
        ToolCall(id="toolu_2", name="get_weather", arguments={"city": "Rome"})
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == LLMUsage(120, 30)
    assert response.model == "claude-sonnet-4-6"


async def test_consecutive_tool_results_share_one_user_turn() -> None:
    http = ScriptedHTTP(message([{"type": "text", "text": "Both done."}]))
    calls = [
        ToolCall(id="t1", name="get_weather", arguments={"city": "A"}),
        ToolCall(id="t2", name="get_weather", arguments={"city": "B"}),
    ]
    prompt = LLMPrompt(
        system="s",
        messages=[
            LLMMessage(role="user", content="go"),
            LLMMessage(role="assistant", tool_calls=calls),
            LLMMessage(role="tool", content="a", tool_call_id="t1"),
            LLMMessage(role="tool", content="boom", tool_call_id="t2", is_error=True),
        ],
        tools=[WEATHER_TOOL],
    )

    await backend(http).generate(prompt)

    assert http.bodies[0]["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "a"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "boom", "is_error": True},
        ],
    }


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"name": "get_weather"}, {"type": "tool", "name": "get_weather"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
    ],
)
async def test_tool_choice_is_translated(choice: object, wire: dict) -> None:
    http = ScriptedHTTP(message([{"type": "text", "text": "ok"}]))
    prompt = LLMPrompt(
        system="s",
        messages=[LLMMessage(role="user", content="hi")],
        tools=[WEATHER_TOOL],
        tool_choice=choice,  # type: ignore[arg-type]
    )
    await backend(http).generate(prompt)
    assert http.bodies[0]["tool_choice"] == wire


async def test_structured_output_is_forced_tool_use() -> None:
    schema = {
        "title": "OrderFilters",
        "type": "object",
        "properties": {"status": {"type": "string"}},
        "required": ["status"],
    }
    http = ScriptedHTTP(
        message(
            [
                {
                    "type": "tool_use",
                    "id": "toolu_9",
                    "name": "OrderFilters",
                    "input": {"status": "shipped"},
                }
            ],
            stop_reason="tool_use",
        )
    )
    prompt = LLMPrompt(
        system="Extract filters.",
        messages=[LLMMessage(role="user", content="shipped orders")],
        response_schema=schema,
    )

    response = await backend(http).generate(prompt)

    body = http.bodies[0]
    assert body["tools"] == [
        {
            "name": "OrderFilters",
            "description": "Give your answer as the input of this tool.",
            "input_schema": schema,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "OrderFilters"}
    assert json.loads(response.content) == {"status": "shipped"}
    assert response.tool_calls == []
    assert response.finish_reason == "stop"


async def test_stream_yields_text_then_assembled_tool_calls_and_usage() -> None:
    http = ScriptedHTTP(
        sse(
            [
                (
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": "msg_1",
                            "type": "message",
                            "role": "assistant",
                            "model": "claude-sonnet-4-6",
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {"input_tokens": 25, "output_tokens": 1},
                        },
                    },
                ),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                ("ping", {"type": "ping"}),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "Let me "},
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": "look."},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 1,
                        "content_block": {
                            "type": "tool_use",
                            "id": "toolu_7",
                            "name": "get_weather",
                            "input": {},
                        },
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 1}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                        "usage": {"output_tokens": 42},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        )
    )
    prompt = LLMPrompt(
        system="s", messages=[LLMMessage(role="user", content="Oslo?")], tools=[WEATHER_TOOL]
    )

    chunks = [c async for c in backend(http).generate_stream(prompt)]

    assert http.bodies[0]["stream"] is True
    assert [c.content for c in chunks if not c.is_final] == ["Let me ", "look."]
    final = chunks[-1]
    assert final.is_final
    assert final.tool_calls == [
        ToolCall(id="toolu_7", name="get_weather", arguments={"city": "Oslo"})
    ]
    assert final.usage == LLMUsage(25, 42)
    assert final.finish_reason == "tool_calls"


async def test_malformed_streamed_tool_arguments_become_empty_dict_with_error() -> None:
    http = ScriptedHTTP(
        sse(
            [
                (
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": "m",
                            "type": "message",
                            "role": "assistant",
                            "model": "claude-sonnet-4-6",
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {"input_tokens": 1, "output_tokens": 1},
                        },
                    },
                ),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {
                            "type": "tool_use",
                            "id": "t",
                            "name": "get_weather",
                            "input": {},
                        },
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "input_json_delta", "partial_json": '{"city": "Os'},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_stop", {"type": "message_stop"}),
            ]
        )
    )
    prompt = LLMPrompt(
        system="s", messages=[LLMMessage(role="user", content="x")], tools=[WEATHER_TOOL]
    )

    chunks = [c async for c in backend(http).generate_stream(prompt)]

    (call,) = chunks[-1].tool_calls
    assert call.arguments == {}
    assert call.parse_error is not None and "not valid JSON" in call.parse_error


async def test_rate_limit_is_retried_then_succeeds() -> None:
    http = ScriptedHTTP(
        error(429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
        message([{"type": "text", "text": "fine"}]),
    )
    response = await backend(http).generate(
        LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")])
    )
    assert len(http.requests) == 2
    assert response.content == "fine"


async def test_overloaded_529_is_retried() -> None:
    http = ScriptedHTTP(
        error(529, "overloaded_error", "Overloaded"),
        message([{"type": "text", "text": "fine"}]),
    )
    response = await backend(http).generate(
        LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")])
    )
    assert len(http.requests) == 2
    assert response.content == "fine"


async def test_bad_request_is_not_retried_and_carries_provider_message() -> None:
    http = ScriptedHTTP(error(400, "invalid_request_error", "max_tokens: must be positive"))
    with pytest.raises(LLMProviderError) as caught:
        await backend(http).generate(
            LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")])
        )
    assert len(http.requests) == 1
    assert caught.value.status_code == 400
    assert caught.value.provider == "anthropic"
    assert "max_tokens: must be positive" in str(caught.value)


async def test_retries_exhausted_raise_provider_error() -> None:
    http = ScriptedHTTP(*[error(500, "api_error", "Internal server error") for _ in range(3)])
    with pytest.raises(LLMProviderError) as caught:
        await backend(http).generate(
            LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")])
        )
    assert len(http.requests) == 3
    assert caught.value.status_code == 500


def test_missing_api_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(LLMConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicBackend()


def test_api_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    assert AnthropicBackend()._client.api_key == "sk-env"


def test_missing_sdk_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(LLMConfigurationError, match=r"django-agentic-endpoints\[anthropic\]"):
        AnthropicBackend(api_key="sk-test")


async def test_forbidden_real_calls_block_before_any_request() -> None:
    http = ScriptedHTTP(message([{"type": "text", "text": "never"}]))
    llm = backend(http)
    forbid_real_calls(True)
    with pytest.raises(LLMNetworkBlocked):
        await llm.generate(LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")]))
    with pytest.raises(LLMNetworkBlocked):
        async for _ in llm.generate_stream(
            LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")])
        ):
            pass
    assert http.requests == []


def test_backend_labels_its_calls() -> None:
    llm = AnthropicBackend(api_key="sk-test", model="claude-haiku-4-5")
    assert (llm.provider, llm.model_name) == ("anthropic", "claude-haiku-4-5")


async def test_provider_error_text_is_scrubbed_of_credentials_and_bounded() -> None:
    key = "sk-ant-the-configured-key"
    leaky = (
        f"Incorrect API key provided: {key}. Authorization: Bearer abc.def-123456; "
        "organisation org-AbCdEf123456, other key sk-proj-ZZZZZZZZZZZZ, "
        "api_key=hunter2hunter2 " + "quota " * 500
    )
    http = ScriptedHTTP(error(401, "authentication_error", leaky))
    leaking = AnthropicBackend(api_key=key, http_client=http.client(), retry=FAST_RETRY)
    with pytest.raises(LLMProviderError) as caught:
        await leaking.generate(
            LLMPrompt(system="s", messages=[LLMMessage(role="user", content="hi")])
        )
    text = str(caught.value)
    for secret in (key, "abc.def-123456", "org-AbCdEf123456", "sk-proj-ZZZZ", "hunter2"):
        assert secret not in text
    assert "api_key=[redacted]" in text
    assert "Incorrect API key provided" in text
    assert len(text) <= 1000
    assert caught.value.status_code == 401
