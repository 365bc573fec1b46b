"""Typed intents, the keyword intent parser and endpoint intent scopes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
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
            "表示",
            "見せて",
            "一覧",
            "確認",
            "教えて",
            "取得",
            "検索",
            "参照",
            "何",
            "いくつ",
            "何件",
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
            "作成",
            "追加",
            "更新",
            "変更",
            "削除",
            "登録",
            "編集",
            "取消",
            "取り消し",
            "キャンセル",
            "返金",
            "修正",
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
            "分析",
            "集計",
            "比較",
            "傾向",
            "平均",
            "統計",
            "レポート",
            "要約",
            "予測",
            "内訳",
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
            "実行",
            "送信",
            "開始",
            "起動",
            "同期",
            "エクスポート",
            "インポート",
            "処理",
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
    "注文": "order",
    "商品": "product",
    "ユーザ": "user",
    "ユーザー": "user",
    "顧客": "customer",
    "支払い": "payment",
    "請求書": "invoice",
    "在庫": "inventory",
    "配送": "shipping",
}


@dataclass(frozen=True)
class KeywordTables:
    """The words the keyword parser classifies by: per action, and word → domain.

    Words without spaces between them (Japanese, Chinese) are matched anywhere in
    the text; others as whole words. Projects add their language with the
    ``INTENT_KEYWORDS`` setting, which :meth:`extended` merges over the defaults.
    """

    actions: Mapping[IntentAction, frozenset[str]]
    domains: Mapping[str, str]

    def extended(self, extra: Mapping[str, Any]) -> KeywordTables:
        """These tables plus ``extra``: ``{"read": [...], ..., "domains": {word: domain}}``."""
        unknown = set(extra) - {action.value for action in IntentAction} - {"domains"}
        if unknown:
            raise ValueError(
                f"unknown keys {sorted(unknown)}: use action names "
                f"{[action.value for action in IntentAction]} and 'domains'"
            )
        actions = {
            action: words | {str(w).lower() for w in extra.get(action.value, ())}
            for action, words in self.actions.items()
        }
        domains = {
            **self.domains,
            **{str(k).lower(): str(v) for k, v in extra.get("domains", {}).items()},
        }
        return KeywordTables(actions=actions, domains=domains)

    def terms(self, text: str) -> list[str]:
        """The words of ``text`` (lower-cased) plus the unspaced keywords it contains, in order."""
        found = [(m.start(), m.group()) for m in _WORDS.finditer(text)]
        vocabulary = {w for words in self.actions.values() for w in words} | set(self.domains)
        for keyword in vocabulary:
            if not keyword.isascii():
                position = text.find(keyword)
                if position >= 0:
                    found.append((position, keyword))
        return [word for _, word in sorted(found)]


DEFAULT_KEYWORDS = KeywordTables(actions=_ACTION_KEYWORDS, domains=_DOMAIN_WORDS)


def classify_action(words: set[str], tables: KeywordTables = DEFAULT_KEYWORDS) -> IntentAction:
    """Pick the action whose keyword set overlaps the words most (read on ties or none)."""
    best, best_score = IntentAction.READ, 0
    for action, keywords in tables.actions.items():
        score = len(words & keywords)
        if score > best_score:
            best, best_score = action, score
    return best


def extract_domain(words: list[str], tables: KeywordTables = DEFAULT_KEYWORDS) -> str:
    """Return the first known domain word in reading order, else ``"general"``."""
    for word in words:
        domain = tables.domains.get(word)
        if domain is not None:
            return domain
    return "general"


def parse_with_keywords(
    raw: str,
    session_context: dict[str, Any] | None = None,
    tables: KeywordTables = DEFAULT_KEYWORDS,
) -> Intent[Any]:
    """Classify ``raw`` by keyword overlap; confidence is fixed at 0.5."""
    words = tables.terms(raw.lower())
    return Intent(
        raw=raw,
        action=classify_action(set(words), tables),
        domain=extract_domain(words, tables),
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

    def __init__(
        self, *, llm: LLMBackend | None = None, keywords: KeywordTables = DEFAULT_KEYWORDS
    ) -> None:
        self.llm = llm
        self.keywords = keywords

    def keyword_parse(self, raw: str, session_context: dict[str, Any] | None = None) -> Intent[Any]:
        """The keyword mode on its own (also the LLM mode's fallback)."""
        return parse_with_keywords(raw, session_context, self.keywords)

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
                keyword_parse=self.keyword_parse,
                observer=observer,
            )
        intent = self.keyword_parse(raw, context)
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
