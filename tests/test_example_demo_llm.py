"""The example project's stand-in LLM answers the pipeline's parsing prompts."""

from __future__ import annotations

import json

from pydantic import BaseModel

from agentic_django.core.intent import IntentParser
from agentic_django.llm import LLMMessage, LLMPrompt
from agentic_django.llm.intent_parsing import delimit_user_text
from example_project.shop.demo_llm import ShopDemoBackend


class Query(BaseModel):
    status: str | None = None
    days: int = 30
    customer_email: str | None = None


async def test_classifies_like_the_keyword_parser_but_through_the_llm_path():
    backend = ShopDemoBackend()
    intent = await IntentParser(llm=backend).parse("cancel order 12 for me")
    assert (intent.action.value, intent.domain, intent.confidence) == ("write", "order", 0.7)
    assert backend.call_count == 1


async def test_fills_a_typed_payload_from_the_question():
    schema = Query.model_json_schema()
    schema["properties"]["status"] = {"enum": ["paid", "shipped"]}
    text = delimit_user_text("shipped to a@b.io in the last 7 days")
    prompt = LLMPrompt(
        system="extract", messages=[LLMMessage("user", text)], response_schema=schema
    )
    reply = await ShopDemoBackend().generate(prompt)
    assert json.loads(reply.content) == {"status": "shipped", "days": 7, "customer_email": "a@b.io"}
