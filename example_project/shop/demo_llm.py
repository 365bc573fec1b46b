"""A stand-in LLM so the demo exercises the LLM code paths without an API key.

It answers the two prompts the pipeline sends for intent parsing: a JSON
classification (from the same keywords as the keyword parser) and, for typed
intents, a structured payload read from the question with a few patterns
(order status words, "last N days", e-mail addresses, numbers). Set
``AGENTIC_LLM=anthropic`` (or ``openai`` / ``gemini``) with the provider's API key
to use a real model instead.
"""

from __future__ import annotations

import html
import re
from typing import Any

from agentic_django.core.intent import parse_with_keywords
from agentic_django.llm import FunctionBackend, LLMPrompt

_REQUEST = re.compile(r"<user_request>\s*(.*?)\s*</user_request>", re.DOTALL)
_LAST_DAYS = re.compile(r"\b(?:last|past)\s+(\d{1,3})\s+days?\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\b\d+\b")


def _user_text(prompt: LLMPrompt) -> str:
    text = "\n".join(m.content for m in prompt.messages if m.role == "user")
    match = _REQUEST.search(text)
    return html.unescape(match.group(1) if match else text)


def _extract(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Values for the schema's properties that the text states plainly."""
    lower = text.lower()
    payload: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        options = spec.get("enum") or [
            value for branch in spec.get("anyOf", []) for value in branch.get("enum", [])
        ]
        if options:
            found = next(
                (o for o in options if re.search(rf"\b{re.escape(str(o))}\b", lower)), None
            )
            if found is not None:
                payload[name] = found
        elif "email" in name and (email := _EMAIL.search(text)):
            payload[name] = email.group(0)
        elif name == "days" and (days := _LAST_DAYS.search(text)):
            payload[name] = int(days.group(1))
        elif spec.get("type") == "integer" and name != "days" and (number := _NUMBER.search(text)):
            payload[name] = int(number.group(0))
    return payload


def reply(prompt: LLMPrompt) -> dict[str, Any]:
    text = _user_text(prompt)
    if prompt.response_schema is not None:
        return _extract(prompt.response_schema, text)
    intent = parse_with_keywords(text)
    return {
        "action": intent.action.value,
        "domain": intent.domain,
        "parameters": {},
        "confidence": 0.7,
        "ambiguities": [],
    }


class ShopDemoBackend(FunctionBackend):
    """:class:`FunctionBackend` answering with :func:`reply`; priced at 0 as ``mock``."""

    def __init__(self, *, model: str = "mock") -> None:
        super().__init__(reply, model=model)
