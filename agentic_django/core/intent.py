"""Typed intents, the keyword intent parser and endpoint intent scopes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .exceptions import IntentParseError

if TYPE_CHECKING:
    from agentic_django.llm.base import LLMBackend

TParams = TypeVar("TParams")


class IntentAction(StrEnum):
    """What kind of operation the user asks for."""

    READ = "read"
    WRITE = "write"
    ANALYZE = "analyze"
    EXECUTE = "execute"
    CLARIFY = "clarify"


@dataclass(frozen=True, slots=True)
class Intent(Generic[TParams]):
    """A parsed user request.

    ``params`` holds the validated payload when the handler declared
    ``Intent[SomeModel]``; ``parameters`` is always a plain dict (mirroring
    ``params.model_dump()`` when ``params`` is set).
    """

    raw: str
    action: IntentAction
    domain: str
    params: TParams | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    confidence: float = 1.0
    ambiguities: list[str] = field(default_factory=list)
    session_context: dict[str, Any] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        """True for operations that change state (write or execute)."""
        return self.action in (IntentAction.WRITE, IntentAction.EXECUTE)

    @property
    def needs_clarification(self) -> bool:
        """True when the parser could not settle what the user meant."""
        return self.action == IntentAction.CLARIFY or bool(self.ambiguities)

    @property
    def key(self) -> str:
        """The ``"{domain}.{action}"`` key that intent scopes and approval rules match."""
        return f"{self.domain}.{self.action.value}"


_WORDS = re.compile(r"[\w']+", re.UNICODE)

_ACTION_KEYWORDS: dict[IntentAction, frozenset[str]] = {
    IntentAction.READ: frozenset(
        [
            "show",
            "list",
            "get",
            "find",
            "fetch",
            "display",
            "view",
            "what",
            "which",
            "who",
            "where",
            "when",
            "how",
            "many",
            "count",
            "lookup",
            "look",
            "search",
            "read",
            "see",
            "check",
            "status",
        ]
    ),
    IntentAction.WRITE: frozenset(
        [
            "create",
            "add",
            "update",
            "change",
            "set",
            "modify",
            "delete",
            "remove",
            "cancel",
            "refund",
            "insert",
            "edit",
            "rename",
            "assign",
            "make",
            "new",
            "register",
            "approve",
            "reject",
            "ship",
        ]
    ),
    IntentAction.ANALYZE: frozenset(
        [
            "analyze",
            "analyse",
            "analysis",
            "compare",
            "trend",
            "trends",
            "average",
            "mean",
            "median",
            "summarize",
            "summarise",
            "summary",
            "report",
            "forecast",
            "breakdown",
            "correlate",
            "statistics",
            "stats",
        ]
    ),
    IntentAction.EXECUTE: frozenset(
        [
            "run",
            "execute",
            "trigger",
            "start",
            "launch",
            "deploy",
            "send",
            "invoke",
            "process",
            "sync",
            "import",
            "export",
        ]
    ),
}

_DOMAIN_WORDS: dict[str, str] = {
    "order": "order",
    "orders": "order",
    "product": "product",
    "products": "product",
    "item": "product",
    "items": "product",
    "user": "user",
    "users": "user",
    "customer": "customer",
    "customers": "customer",
    "client": "customer",
    "clients": "customer",
    "payment": "payment",
    "payments": "payment",
    "refund": "payment",
    "refunds": "payment",
    "invoice": "invoice",
    "invoices": "invoice",
    "inventory": "inventory",
    "stock": "inventory",
    "shipping": "shipping",
    "shipment": "shipping",
    "shipments": "shipping",
    "delivery": "shipping",
    "deliveries": "shipping",
}


def classify_action(words: set[str]) -> IntentAction:
    """Pick the action whose keyword set overlaps the words most (read on ties or none)."""
    best, best_score = IntentAction.READ, 0
    for action, keywords in _ACTION_KEYWORDS.items():
        score = len(words & keywords)
        if score > best_score:
            best, best_score = action, score
    return best


def extract_domain(words: list[str]) -> str:
    """Return the first known domain word in reading order, else ``"general"``."""
    for word in words:
        domain = _DOMAIN_WORDS.get(word)
        if domain is not None:
            return domain
    return "general"


def parse_with_keywords(raw: str, session_context: dict[str, Any] | None = None) -> Intent[Any]:
    """Classify ``raw`` by keyword overlap; confidence is fixed at 0.5."""
    words = _WORDS.findall(raw.lower())
    return Intent(
        raw=raw,
        action=classify_action(set(words)),
        domain=extract_domain(words),
        confidence=0.5,
        session_context=dict(session_context or {}),
    )


#: Called with each LLM response (or error) the parser's LLM mode makes, so the
#: Django side can record it; see ``agentic_django.llm.intent_parsing``.
LLMCallObserver = Callable[..., Awaitable[None] | None]


class IntentParser:
    """Turn raw text into an :class:`Intent`.

    Without an LLM it classifies by keywords; with one it asks the model for a
    JSON classification (or, for typed intents, provider-native structured
    output) and falls back to keywords when the reply is unusable.
    """

    def __init__(self, *, llm: LLMBackend | None = None) -> None:
        self.llm = llm

    async def parse(
        self,
        raw: str,
        *,
        session_context: dict[str, Any] | None = None,
        schema: type[BaseModel] | None = None,
        observer: LLMCallObserver | None = None,
    ) -> Intent[Any]:
        """Parse ``raw``; ``schema`` asks for a typed payload validated into ``params``."""
        if not raw or not raw.strip():
            raise IntentParseError("The intent is empty.")
        context = dict(session_context or {})
        if self.llm is not None:
            from agentic_django.llm.intent_parsing import parse_intent_with_llm

            return await parse_intent_with_llm(
                self.llm,
                raw,
                session_context=context,
                schema=schema,
                keyword_parse=parse_with_keywords,
                observer=observer,
            )
        intent = parse_with_keywords(raw, context)
        if schema is None:
            return intent
        return with_schema_defaults(intent, schema)


def with_schema_defaults(intent: Intent[Any], schema: type[BaseModel]) -> Intent[Any]:
    """Fill ``params`` from the schema's defaults when they validate on their own.

    Without an LLM nothing can extract the payload from free text; a schema whose
    fields all have defaults still yields a usable ``params``, otherwise the
    intent records which fields are missing.
    """
    try:
        params = schema.model_validate({})
    except ValidationError as exc:
        missing = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        return Intent(
            raw=intent.raw,
            action=intent.action,
            domain=intent.domain,
            parameters=dict(intent.parameters),
            confidence=intent.confidence,
            ambiguities=[
                *intent.ambiguities,
                f"{schema.__name__} needs values for: {missing} (no LLM to extract them)",
            ],
            session_context=intent.session_context,
        )
    return Intent(
        raw=intent.raw,
        action=intent.action,
        domain=intent.domain,
        params=params,
        parameters=params.model_dump(mode="json"),
        confidence=intent.confidence,
        ambiguities=list(intent.ambiguities),
        session_context=intent.session_context,
    )


class IntentScope(BaseModel):
    """Which ``"{domain}.{action}"`` keys an endpoint accepts; denials win."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_intents: list[str] = Field(default_factory=lambda: ["*"])
    denied_intents: list[str] = Field(default_factory=list)

    def matches(self, intent: Intent[Any]) -> bool:
        """True when ``intent`` is allowed by this scope."""
        key = intent.key
        if any(fnmatchcase(key, pattern) for pattern in self.denied_intents):
            return False
        return any(fnmatchcase(key, pattern) for pattern in self.allowed_intents)
