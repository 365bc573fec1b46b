"""The LLMBackend protocol as third-party code meets it: three members, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentic_django.llm import (
    AnthropicBackend,
    GeminiBackend,
    LLMBackend,
    LLMCallRecord,
    LLMChunk,
    LLMMessage,
    LLMPrompt,
    LLMResponse,
    LLMUsage,
    MockBackend,
    OpenAIBackend,
    ToolCall,
    observed_generate,
)
from agentic_django.llm.base import backend_provider, missing_members, streams_tool_calls

OPENAI_SHAPED_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class ThreeMembers:
    """A wrapper written against the reference protocol only (no provider, text streams)."""

    def __init__(self, reply: str = "hello there", calls: list[ToolCall] | None = None) -> None:
        self.reply = reply
        self.calls = calls or []
        self.generated = 0

    @property
    def model_name(self) -> str:
        return "acme-1"

    async def generate(self, prompt: LLMPrompt) -> LLMResponse:
        self.generated += 1
        return LLMResponse(content=self.reply, tool_calls=list(self.calls), model="acme-1")

    async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
        for word in self.reply.split(" "):
            yield LLMChunk(content=word + " ")
        yield LLMChunk(content="", is_final=True)


def prompt(**options: Any) -> LLMPrompt:
    return LLMPrompt(
        system="be brief", messages=[LLMMessage(role="user", content="weather?")], **options
    )


def test_a_three_member_class_is_an_llm_backend() -> None:
    assert isinstance(ThreeMembers(), LLMBackend)
    assert missing_members(ThreeMembers) == []
    assert missing_members(ThreeMembers()) == []


def test_missing_members_names_what_is_missing() -> None:
    class NoStream:
        model_name = "x"

        async def generate(self, prompt: LLMPrompt) -> LLMResponse:
            return LLMResponse(content="")

    class SyncGenerate:
        model_name = "x"

        def generate(self, prompt: LLMPrompt) -> LLMResponse:
            return LLMResponse(content="")

        async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
            yield LLMChunk(content="", is_final=True)

    class ModelNameSetInInit:
        model_name: str

        async def generate(self, prompt: LLMPrompt) -> LLMResponse:
            return LLMResponse(content="")

        async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
            yield LLMChunk(content="", is_final=True)

    assert not isinstance(NoStream(), LLMBackend)
    [gap] = missing_members(NoStream)
    assert gap.startswith("missing `generate_stream`")
    [gap] = missing_members(SyncGenerate)
    assert "`generate` is not async" in gap
    assert missing_members(ModelNameSetInInit) == []
    assert [g.split(" (")[0] for g in missing_members(object)] == [
        "missing `generate`",
        "missing `generate_stream`",
        "missing `model_name`",
    ]


def test_provider_is_the_backends_own_else_its_package_else_the_default() -> None:
    assert backend_provider(MockBackend()) == "mock"
    assert backend_provider(OpenAIBackend(api_key="sk-test")) == "openai"
    # Defined in this test module: its top-level package names it.
    assert backend_provider(ThreeMembers()) == "tests"
    assert backend_provider(object(), "fast") == "fast"


def test_streaming_tool_calls_is_a_detected_capability() -> None:
    assert streams_tool_calls(MockBackend())
    assert streams_tool_calls(AnthropicBackend(api_key="sk-test"))
    assert not streams_tool_calls(ThreeMembers())


async def test_a_text_only_stream_is_not_used_for_a_tool_turn() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"})
    llm = ThreeMembers(reply="", calls=[call])
    seen: list[str] = []
    records: list[LLMCallRecord] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    response = await observed_generate(
        llm,
        prompt(tools=[OPENAI_SHAPED_TOOL]),
        purpose="loop",
        observer=records.append,
        on_text=on_text,
    )
    assert llm.generated == 1
    assert response.tool_calls == [call]
    # The backend reported no usage: it is estimated, and marked so, never zero.
    assert response.usage.estimated and response.usage.input_tokens > 0
    assert records[0].provider == "tests"
    assert records[0].response is response


async def test_a_stream_without_usage_is_recorded_with_estimated_usage() -> None:
    llm = ThreeMembers(reply="it is sunny in Oslo today")
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    response = await observed_generate(llm, prompt(), purpose="loop", on_text=on_text)
    assert "".join(seen).split() == ["it", "is", "sunny", "in", "Oslo", "today"]
    assert llm.generated == 0
    assert response.usage.estimated
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


async def test_reported_usage_is_kept_as_reported() -> None:
    llm = MockBackend()
    llm.add_response("fine")
    response = await observed_generate(llm, prompt(), purpose="loop")
    assert not response.usage.estimated
    assert response.usage == LLMUsage(response.usage.input_tokens, response.usage.output_tokens)


@pytest.mark.parametrize(
    ("backend", "find_name"),
    [
        (
            lambda: OpenAIBackend(api_key="sk-test"),
            lambda request: request["tools"][0]["function"]["name"],
        ),
        (lambda: AnthropicBackend(api_key="sk-test"), lambda request: request["tools"][0]["name"]),
        (
            lambda: GeminiBackend(api_key="sk-test"),
            lambda request: request["config"]["tools"][0]["function_declarations"][0]["name"],
        ),
    ],
    ids=["openai", "anthropic", "gemini"],
)
def test_openai_shaped_tool_definitions_work_in_every_backend(backend: Any, find_name: Any) -> None:
    request = backend().build_request(
        prompt(
            tools=[OPENAI_SHAPED_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    )
    assert find_name(request) == "get_weather"


async def test_openai_shaped_tools_reach_the_mock_backend() -> None:
    reply = await MockBackend().generate(prompt(tools=[OPENAI_SHAPED_TOOL], tool_choice="required"))
    assert reply.tool_calls[0].name == "get_weather"


async def test_chunks_of_a_foreign_class_are_assembled() -> None:
    class Chunk:
        """A third-party chunk: only content and is_final."""

        def __init__(self, content: str, is_final: bool = False) -> None:
            self.content = content
            self.is_final = is_final

    class Foreign(ThreeMembers):
        async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[Any]:
            yield Chunk("partly ")
            yield Chunk("cloudy", is_final=True)

    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    response = await observed_generate(Foreign(), prompt(), purpose="loop", on_text=on_text)
    assert response.content == "partly cloudy" == "".join(seen)
    assert response.usage.estimated and response.usage.output_tokens > 0
