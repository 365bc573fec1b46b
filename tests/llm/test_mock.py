from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from agentic_django.core.exceptions import CodeGenerationError
from agentic_django.llm import (
    FunctionBackend,
    LLMBackend,
    LLMMessage,
    LLMPrompt,
    LLMResponse,
    MockBackend,
    ToolCall,
)
from agentic_django.llm.mock import synthesise_from_schema

TOOL = {"name": "lookup", "description": "", "parameters": {"type": "object", "properties": {}}}


def ask(text: str = "hi", **kwargs: object) -> LLMPrompt:
    return LLMPrompt(system="sys", messages=[LLMMessage(role="user", content=text)], **kwargs)  # type: ignore[arg-type]


def test_backends_satisfy_the_protocol() -> None:
    assert isinstance(MockBackend(), LLMBackend)
    assert isinstance(FunctionBackend(lambda p: "x"), LLMBackend)


async def test_text_replies_come_in_order_and_prompts_are_recorded() -> None:
    llm = MockBackend(["first", "second"])
    llm.add_response("third")
    replies = [(await llm.generate(ask(str(i)))).content for i in range(3)]
    assert replies == ["first", "second", "third"]
    assert llm.call_count == 3
    assert [p.messages[0].content for p in llm.prompts] == ["0", "1", "2"]
    assert (llm.provider, llm.model_name) == ("mock", "mock")


async def test_empty_queue_raises_code_generation_error_and_counts_the_call() -> None:
    llm = MockBackend()
    with pytest.raises(CodeGenerationError, match="no queued response"):
        await llm.generate(ask())
    assert llm.call_count == 1


async def test_tool_call_queue_is_used_only_when_tools_are_offered() -> None:
    llm = MockBackend(["plain"])
    llm.add_tool_call_response(ToolCall(id="1", name="lookup", arguments={"q": "x"}))
    plain = await llm.generate(ask())
    assert plain.content == "plain"
    called = await llm.generate(ask(tools=[TOOL]))
    assert called.tool_calls == [ToolCall(id="1", name="lookup", arguments={"q": "x"})]
    assert called.finish_reason == "tool_calls"


async def test_required_tool_choice_synthesises_a_call_to_the_first_tool() -> None:
    response = await MockBackend().generate(ask(tools=[TOOL], tool_choice="required"))
    assert [c.name for c in response.tool_calls] == ["lookup"]


async def test_structured_queue_wins_over_synthesis() -> None:
    llm = MockBackend(structured_responses=[{"status": "open"}])
    schema = {
        "type": "object",
        "properties": {"status": {"type": "string"}},
        "required": ["status"],
    }
    first = await llm.generate(ask(response_schema=schema))
    second = await llm.generate(ask(response_schema=schema))
    assert json.loads(first.content) == {"status": "open"}
    assert json.loads(second.content) == {"status": ""}


class Address(BaseModel):
    city: str
    zip_code: int


class Customer(BaseModel):
    name: str
    tier: str = "basic"
    tags: list[str] = Field(min_length=1)
    address: Address
    nickname: str | None


def test_synthesised_reply_validates_against_the_pydantic_model() -> None:
    payload = synthesise_from_schema(Customer.model_json_schema())
    customer = Customer.model_validate(payload)
    assert customer.address == Address(city="", zip_code=0)
    assert customer.tags == [""]
    assert "tier" not in payload  # only required fields are filled


async def test_stream_splits_words_and_marks_the_last_chunk_final() -> None:
    llm = MockBackend(["one two three"])
    chunks = [c async for c in llm.generate_stream(ask())]
    assert [c.content for c in chunks] == ["one ", "two ", "three"]
    assert [c.is_final for c in chunks] == [False, False, True]
    assert chunks[-1].usage is not None


async def test_function_backend_computes_replies_from_the_prompt() -> None:
    llm = FunctionBackend(lambda prompt: prompt.messages[-1].content.upper())
    assert (await llm.generate(ask("shout"))).content == "SHOUT"
    assert llm.call_count == 1


async def test_function_backend_accepts_async_functions_and_rich_replies() -> None:
    async def fn(prompt: LLMPrompt) -> object:
        if prompt.tools:
            return ToolCall(id="t", name="lookup")
        if prompt.response_schema:
            return {"ok": True}
        return LLMResponse(content="raw", finish_reason="length")

    llm = FunctionBackend(fn)  # type: ignore[arg-type]
    assert (await llm.generate(ask(tools=[TOOL]))).tool_calls[0].name == "lookup"
    assert json.loads((await llm.generate(ask(response_schema={"type": "object"}))).content) == {
        "ok": True
    }
    assert (await llm.generate(ask())).finish_reason == "length"
    assert len(llm.prompts) == 3
