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
    GeminiBackend,
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


def candidate_body(
    parts: list[dict[str, Any]], finish: str | None = "STOP", **usage: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}],
        "usageMetadata": {
            "promptTokenCount": usage.get("prompt", 30),
            "candidatesTokenCount": usage.get("candidates", 8),
            "totalTokenCount": usage.get("prompt", 30) + usage.get("candidates", 8),
        },
        "modelVersion": "gemini-2.5-flash",
    }
    if finish:
        body["candidates"][0]["finishReason"] = finish
    return body


def reply(parts: list[dict[str, Any]], finish: str = "STOP", **usage: int) -> httpx2.Response:
    return httpx2.Response(200, json=candidate_body(parts, finish, **usage))


def error(code: int, status: str, text: str) -> httpx2.Response:
    return httpx2.Response(code, json={"error": {"code": code, "message": text, "status": status}})


def backend(http: ScriptedHTTP) -> GeminiBackend:
    return GeminiBackend(api_key="g-test", http_client=http.client(), retry=FAST_RETRY)


def ask(text: str = "hi") -> LLMPrompt:
    return LLMPrompt(system="s", messages=[LLMMessage(role="user", content=text)])


async def test_multi_turn_tool_conversation_resolves_function_names() -> None:
    http = ScriptedHTTP(
        reply(
            [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ],
            prompt=120,
            candidates=30,
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
        temperature=0.0,
    )

    response = await backend(http).generate(prompt)

    request = http.requests[0]
    assert request.url.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert request.headers["x-goog-api-key"] == "g-test"
    body = http.bodies[0]
    assert body["systemInstruction"]["parts"] == [{"text": "You are helpful."}]
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "call_1",
                        "name": "get_weather",
                        "response": {"result": "18C, sunny"},
                    }
                }
            ],
        },
    ]
    (declaration,) = body["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert declaration["description"] == "Current weather for a city"
    assert (
        declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
        == (WEATHER_TOOL["parameters"])
    )
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 4096}

    assert response.content == "Checking."
    (call,) = response.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Rome"})
    assert call.id  # Gemini may omit ids; one is generated so results can refer to it
    assert response.finish_reason == "tool_calls"
    assert response.usage == LLMUsage(120, 30)
    assert response.model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        ({"name": "get_weather"}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
async def test_tool_choice_is_translated(choice: object, wire: dict) -> None:
    http = ScriptedHTTP(reply([{"text": "ok"}]))
    prompt = LLMPrompt(
        system="s",
        messages=[LLMMessage(role="user", content="hi")],
        tools=[WEATHER_TOOL],
        tool_choice=choice,  # type: ignore[arg-type]
    )
    await backend(http).generate(prompt)
    assert http.bodies[0]["toolConfig"] == {"functionCallingConfig": wire}


async def test_structured_output_sends_mime_type_and_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"status": {"type": "string"}},
        "required": ["status"],
    }
    http = ScriptedHTTP(reply([{"text": '{"status": "shipped"}'}]))
    prompt = LLMPrompt(
        system="Extract.", messages=[LLMMessage(role="user", content="x")], response_schema=schema
    )

    response = await backend(http).generate(prompt)

    config = http.bodies[0]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    assert json.loads(response.content) == {"status": "shipped"}
    assert response.finish_reason == "stop"


async def test_safety_stop_is_reported_as_content_filter() -> None:
    http = ScriptedHTTP(reply([], finish="SAFETY"))
    response = await backend(http).generate(ask())
    assert response.finish_reason == "content_filter"
    assert response.content == ""


async def test_stream_yields_text_then_tool_calls_and_usage() -> None:
    http = ScriptedHTTP(
        sse(
            [
                (None, candidate_body([{"text": "Let me "}], finish=None)),
                (None, candidate_body([{"text": "look."}], finish=None)),
                (
                    None,
                    candidate_body(
                        [
                            {
                                "functionCall": {
                                    "id": "fc_1",
                                    "name": "get_weather",
                                    "args": {"city": "Oslo"},
                                }
                            }
                        ],
                        prompt=20,
                        candidates=9,
                    ),
                ),
            ]
        )
    )
    prompt = LLMPrompt(
        system="s", messages=[LLMMessage(role="user", content="Oslo?")], tools=[WEATHER_TOOL]
    )

    chunks = [c async for c in backend(http).generate_stream(prompt)]

    assert http.requests[0].url.path.endswith(":streamGenerateContent")
    assert http.requests[0].url.params["alt"] == "sse"
    assert [c.content for c in chunks if not c.is_final] == ["Let me ", "look."]
    final = chunks[-1]
    assert final.is_final
    assert final.tool_calls == [ToolCall(id="fc_1", name="get_weather", arguments={"city": "Oslo"})]
    assert final.usage == LLMUsage(20, 9)
    assert final.finish_reason == "tool_calls"


async def test_rate_limit_is_retried_then_succeeds() -> None:
    http = ScriptedHTTP(
        error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), reply([{"text": "fine"}])
    )
    response = await backend(http).generate(ask())
    assert len(http.requests) == 2
    assert response.content == "fine"


async def test_bad_request_is_not_retried_and_carries_provider_message() -> None:
    http = ScriptedHTTP(error(400, "INVALID_ARGUMENT", "Invalid value at 'contents[0].parts'"))
    with pytest.raises(LLMProviderError) as caught:
        await backend(http).generate(ask())
    assert len(http.requests) == 1
    assert caught.value.status_code == 400
    assert caught.value.provider == "gemini"
    assert "Invalid value at 'contents[0].parts'" in str(caught.value)


def test_missing_api_key_names_the_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(LLMConfigurationError, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        GeminiBackend()


def test_gemini_api_key_variable_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "g-env")
    assert GeminiBackend().model_name == "gemini-2.5-flash"


def test_missing_sdk_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.genai", None)
    with pytest.raises(LLMConfigurationError, match=r"django-agentic-endpoints\[gemini\]"):
        GeminiBackend(api_key="g-test")


async def test_forbidden_real_calls_block_before_any_request() -> None:
    http = ScriptedHTTP(reply([{"text": "never"}]))
    llm = backend(http)
    forbid_real_calls(True)
    with pytest.raises(LLMNetworkBlocked):
        await llm.generate(ask())
    assert http.requests == []
