"""The third-party backend of docs/providers.md, exactly as a user copies it, end to end."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core import checks

from agentic_django.llm import LLMBackend
from agentic_django.models import LLMCall
from agentic_django.runtime import tool

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
TOOL_RUNS: list[int] = []

pytestmark = pytest.mark.django_db


@tool
async def lookup_order(order_id: int) -> dict:
    """Look up one order."""
    TOOL_RUNS.append(order_id)
    return {"order_id": order_id, "status": "shipped"}


def documented_module() -> types.ModuleType:
    """``myproject.llm`` built from the documentation's code block."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Your own backend", 1)[1]
    code = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "class " in b)
    package = types.ModuleType("myproject")
    package.__path__ = []
    module = types.ModuleType("myproject.llm")
    exec(compile(code, "myproject/llm.py", "exec"), module.__dict__)
    package.llm = module  # type: ignore[attr-defined]
    return module


@pytest.fixture
def post(client, user):
    client.force_login(user)  # agent endpoints are authenticated by default

    def send(name, body):
        return client.post(f"/agents/{name}/", json.dumps(body), content_type="application/json")

    return send


@pytest.fixture
def ollama(settings, monkeypatch):
    """The documented backend configured under ``local``, talking to a scripted server."""
    module = documented_module()
    monkeypatch.setitem(
        sys.modules, "myproject", sys.modules.get("myproject") or types.ModuleType("myproject")
    )
    monkeypatch.setitem(sys.modules, "myproject.llm", module)
    requests: list[dict[str, Any]] = []
    replies: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        reply = replies.pop(0)
        if body["stream"]:
            lines = [
                {"message": {"content": w + " "}, "done": False} for w in reply["text"].split()
            ]
            lines.append({"message": {"content": ""}, "done": True, **reply["usage"]})
            return httpx.Response(200, text="\n".join(json.dumps(line) for line in lines))
        message = {"role": "assistant", "content": reply.get("text", "")}
        if "calls" in reply:
            message["tool_calls"] = [
                {"function": {"name": name, "arguments": args}} for name, args in reply["calls"]
            ]
        return httpx.Response(200, json={"message": message, "done": True, **reply["usage"]})

    config = dict(settings.AGENTIC_DJANGO)
    config["LLM_BACKENDS"] = {
        **config.get("LLM_BACKENDS", {}),
        "local": {
            "BACKEND": "myproject.llm.OllamaBackend",
            "OPTIONS": {"model": "llama3.2", "transport": httpx.MockTransport(handle)},
        },
    }
    config["PRICING"] = {"llama3.2": {"input": 1.0, "output": 2.0}}
    settings.AGENTIC_DJANGO = config
    TOOL_RUNS.clear()
    return types.SimpleNamespace(module=module, requests=requests, replies=replies)


def test_the_documented_backend_satisfies_the_protocol_and_the_checks(ollama) -> None:
    backend = ollama.module.OllamaBackend(transport=httpx.MockTransport(lambda r: None))
    assert isinstance(backend, LLMBackend)
    errors = [m for m in checks.run_checks() if m.id == "agentic_django.E007"]
    assert errors == []


def test_a_backend_missing_a_member_is_named_by_the_system_check(ollama, settings) -> None:
    class NoStream:
        model_name = "x"

        async def generate(self, prompt: Any) -> Any: ...

    ollama.module.NoStream = NoStream
    config = dict(settings.AGENTIC_DJANGO)
    config["LLM_BACKENDS"] = {
        **config["LLM_BACKENDS"],
        "broken": {"BACKEND": "myproject.llm.NoStream"},
    }
    settings.AGENTIC_DJANGO = config
    [error] = [m for m in checks.run_checks() if m.id == "agentic_django.E007"]
    assert "'broken'" in error.msg and "missing `generate_stream`" in error.msg


@pytest.mark.parametrize("streaming", [None, "sse"], ids=["plain", "streaming"])
def test_a_tools_endpoint_runs_its_tool_and_records_real_usage(
    ollama, site, post, streaming
) -> None:
    @site.agent_endpoint(
        "support", description="Orders.", tools=[lookup_order], llm="local", streaming=streaming
    )
    async def support(intent, context):
        return None

    ollama.replies.extend(
        [
            {
                "calls": [("lookup_order", {"order_id": 7})],
                "usage": {"prompt_eval_count": 40, "eval_count": 5},
            },
            {"text": "Order 7 has shipped.", "usage": {"prompt_eval_count": 60, "eval_count": 8}},
        ]
    )
    response = post("support", {"intent": "where is order 7?"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "Order 7 has shipped."
    assert TOOL_RUNS == [7]
    # Tool turns went through generate (the stream carries no tool calls).
    assert [r["stream"] for r in ollama.requests] == [False, False]
    assert ollama.requests[0]["tools"][0]["function"]["name"] == "lookup_order"
    calls = LLMCall.objects.order_by("pk")
    assert [(c.provider, c.input_tokens, c.output_tokens, c.usage_estimated) for c in calls] == [
        ("myproject", 40, 5, False),
        ("myproject", 60, 8, False),
    ]
    assert sum(c.cost_usd for c in calls) > 0


def test_a_handler_stream_without_usage_is_recorded_as_estimated(ollama, site, post) -> None:
    from agentic_django.llm import LLMMessage, LLMPrompt

    @site.agent_endpoint("chat", description="Chat.", llm="local")
    async def chat(intent, context, llm: LLMBackend):
        parts = []
        async for chunk in llm.generate_stream(
            LLMPrompt(system="brief", messages=[LLMMessage(role="user", content=intent.raw)])
        ):
            parts.append(chunk.content)
        return "".join(parts).strip()

    ollama.replies.append({"text": "hello there friend", "usage": {}})
    response = post("chat", {"intent": "say hello"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "hello there friend"
    [call] = LLMCall.objects.all()
    assert call.usage_estimated and call.input_tokens > 0 and call.output_tokens > 0
    assert call.cost_usd > 0


def test_the_documented_backend_can_be_the_intent_parser(ollama, site, post, settings) -> None:
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "INTENT_PARSER_LLM": "local"}
    seen = []

    @site.agent_endpoint("parsed", description="Orders.")
    async def parsed(intent):
        seen.append((intent.action.value, intent.domain))
        return "ok"

    classification = {"action": "write", "domain": "order", "parameters": {}, "confidence": 0.9}
    ollama.replies.append(
        {"text": json.dumps(classification), "usage": {"prompt_eval_count": 30, "eval_count": 9}}
    )
    response = post("parsed", {"intent": "cancel order 7"})
    assert response.status_code == 200, response.json()
    assert seen == [("write", "order")]
    [call] = LLMCall.objects.all()
    assert (call.purpose, call.provider, call.input_tokens) == ("intent_parse", "myproject", 30)
