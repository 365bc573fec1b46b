from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel, ValidationError

from agentic_django.core.exceptions import IntentParseError
from agentic_django.core.intent import Intent, IntentAction, IntentParser, IntentScope


def make(action: IntentAction = IntentAction.READ, domain: str = "order", **kw) -> Intent:
    return Intent(raw="x", action=action, domain=domain, **kw)


def test_intent_is_frozen():
    intent = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        intent.domain = "product"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("action", "is_write"),
    [
        (IntentAction.READ, False),
        (IntentAction.ANALYZE, False),
        (IntentAction.CLARIFY, False),
        (IntentAction.WRITE, True),
        (IntentAction.EXECUTE, True),
    ],
)
def test_is_write_covers_write_and_execute(action, is_write):
    assert make(action).is_write is is_write


def test_needs_clarification_on_clarify_action_or_ambiguities():
    assert make(IntentAction.CLARIFY).needs_clarification
    assert make(ambiguities=["which order?"]).needs_clarification
    assert not make().needs_clarification


@pytest.mark.parametrize(
    ("text", "action", "domain"),
    [
        ("How many orders shipped today?", IntentAction.READ, "order"),
        ("Cancel order 1234 and refund it", IntentAction.WRITE, "order"),
        ("Analyze the sales trend of products", IntentAction.ANALYZE, "product"),
        ("Run the customer export", IntentAction.EXECUTE, "customer"),
        ("hello there", IntentAction.READ, "general"),
    ],
)
async def test_keyword_parser_classifies_action_and_domain(text, action, domain):
    intent = await IntentParser().parse(text)
    assert (intent.action, intent.domain) == (action, domain)
    assert intent.confidence == 0.5
    assert intent.params is None


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_empty_intent_is_refused(text):
    with pytest.raises(IntentParseError):
        await IntentParser().parse(text)


async def test_session_context_is_carried_as_a_copy():
    context = {"last_order": 7}
    intent = await IntentParser().parse("show order", session_context=context)
    assert intent.session_context == {"last_order": 7}
    assert intent.session_context is not context


class WithDefaults(BaseModel):
    status: str = "any"
    limit: int = 5


class Required(BaseModel):
    customer_id: int


async def test_typed_intent_without_llm_uses_schema_defaults():
    intent = await IntentParser().parse("list orders", schema=WithDefaults)
    assert intent.params == WithDefaults()
    assert intent.parameters == {"status": "any", "limit": 5}


async def test_typed_intent_without_llm_names_missing_fields():
    intent = await IntentParser().parse("list orders", schema=Required)
    assert intent.params is None
    assert any("customer_id" in note for note in intent.ambiguities)


def test_scope_denied_patterns_win_over_allowed():
    scope = IntentScope(allowed_intents=["order.*"], denied_intents=["order.write"])
    assert scope.matches(make(IntentAction.READ))
    assert not scope.matches(make(IntentAction.WRITE))
    assert not scope.matches(make(IntentAction.READ, domain="product"))


def test_scope_defaults_allow_everything_and_forbid_unknown_fields():
    assert IntentScope().matches(make(IntentAction.EXECUTE, domain="anything"))
    with pytest.raises(ValidationError):
        IntentScope(allowed=["*"])  # type: ignore[call-arg]
