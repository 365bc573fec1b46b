"""A keyless, scripted LLM for trying every engine: it answers by rules, not by a model.

``DemoBackend`` recognises the prompts the app sends and answers each the way a
model would, well enough to take a request through every engine without an API
key or a network:

* intent classification: the keyword parser's reading of the request;
* typed intents (a ``response_schema``): values the request states plainly
  (an enum word, a number), the schema's defaults for the rest;
* code generation: a small program that describes the data it is given (how many
  items under each key), valid for the sandbox and its static analysis;
* the tool loop: a call to the offered tool whose name or description shares the
  most words with the request, then an answer quoting the tool's result;
* anything else (workflow steps, handlers calling their LLM): a sentence that
  restates the request.

It is a demonstration aid, like ``MockBackend`` a stand-in (``check --deploy``
warns when one serves production). Point an alias at it::

    AGENTIC_DJANGO = {"LLM_BACKENDS": {"default": {"BACKEND": "agentic_django.llm.DemoBackend"}}}
"""

from __future__ import annotations

import html
import re
from typing import Any

from ..core.intent import parse_with_keywords
from .base import LLMPrompt, ToolCall
from .mock import FunctionBackend, synthesise_from_schema

_REQUEST = re.compile(r"<user_request>\s*(.*?)\s*</user_request>", re.DOTALL)
_WORDS = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")

#: The program code generation answers with: it runs on any ``data`` (a mapping of
#: lists, as ``context_data`` and handlers usually provide, or anything else).
DEMO_PROGRAM = """\
if isinstance(data, dict):
    result = {}
    for key, value in data.items():
        result[key] = len(value) if isinstance(value, (list, dict)) else value
else:
    result = data
"""


def request_text(prompt: LLMPrompt) -> str:
    """The user's request in ``prompt``, without the delimiters the parser adds."""
    text = "\n".join(message.content for message in prompt.messages if message.role == "user")
    match = _REQUEST.search(text)
    return html.unescape(match.group(1) if match else text).strip()


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.lower()))


def _classification(text: str) -> dict[str, Any]:
    intent = parse_with_keywords(text)
    return {
        "action": str(intent.action),
        "domain": intent.domain,
        "parameters": dict(intent.parameters),
        "confidence": 0.8,
        "ambiguities": [],
    }


def _typed(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """The schema's defaults, with the enum words and numbers the request states."""
    payload = synthesise_from_schema(schema)
    payload = payload if isinstance(payload, dict) else {}
    words = _words(text)
    numbers = _NUMBER.findall(text)
    for name, spec in schema.get("properties", {}).items():
        options = spec.get("enum") or [
            option for branch in spec.get("anyOf", []) for option in branch.get("enum", [])
        ]
        chosen = next((option for option in options if str(option).lower() in words), None)
        if chosen is not None:
            payload[name] = chosen
        elif spec.get("type") in ("integer", "number") and numbers:
            number = numbers.pop(0)
            payload[name] = int(float(number)) if spec["type"] == "integer" else float(number)
    return payload


def _tool_call(prompt: LLMPrompt, text: str) -> ToolCall:
    """The offered tool closest to the request, its arguments filled from the request."""
    words = _words(text)
    tools = prompt.tools or []

    def overlap(spec: dict[str, Any]) -> int:
        described = f"{spec.get('name', '')} {spec.get('description', '')}".replace("_", " ")
        return len(words & _words(described))

    best = max(tools, key=overlap)  # the first of the best, since max keeps the first
    schema = best.get("parameters") or {"type": "object", "properties": {}}
    return ToolCall(id="demo_call_1", name=best.get("name", ""), arguments=_typed(schema, text))


def demo_reply(prompt: LLMPrompt) -> str | dict[str, Any] | ToolCall:
    """What :class:`DemoBackend` answers to ``prompt`` (see the module docstring)."""
    text = request_text(prompt)
    schema = prompt.response_schema
    if schema is not None:
        properties = schema.get("properties", {})
        if "code" in properties:
            return {
                "code": DEMO_PROGRAM,
                "reasoning": "A demonstration program: it counts what the data holds.",
                "confidence": 0.9,
            }
        if {"action", "domain"} <= set(properties):
            return _classification(text)
        return _typed(schema, text)
    if "classify requests" in prompt.system:
        return _classification(text)
    last = prompt.messages[-1] if prompt.messages else None
    if last is not None and last.role == "tool":
        return f"Here is what the tool found: {last.content[:500]}"
    if prompt.tools:
        return _tool_call(prompt, text)
    return f"(demo model) You asked: {text[:300]}" if text else "(demo model) Done."


class DemoBackend(FunctionBackend):
    """A keyless scripted model for trying every engine (see :mod:`agentic_django.llm.demo`)."""

    def __init__(self, *, model: str = "demo") -> None:
        super().__init__(demo_reply, model=model)


__all__ = ["DEMO_PROGRAM", "DemoBackend", "demo_reply", "request_text"]
