"""The durable cache of generated code (``CodeCacheEntry`` rows).

Keys cover the normalised question text as well as the parsed intent: two
questions that parse alike ("how many customers", "total spent by customers")
must not share a program. A hit skips the LLM call, never the harness: cached code goes through the
policies, static analysis and the sandbox like fresh code. Only code that ran
successfully is stored. Entries are scoped per user unless ``CODE_CACHE["SCOPE"]``
is ``"shared"`` (allowed only where the LLM saw the data's shape, not its values;
anonymous callers are never cached);
expired entries are never served and the least recently used are evicted beyond
``MAX_ENTRIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.timezone import now

from ..conf import agentic_settings
from ..models import CodeCacheEntry

SCOPE_USER = "user"
SCOPE_SHARED = "shared"
SCOPES = (SCOPE_USER, SCOPE_SHARED)


@dataclass(frozen=True)
class CachedCode:
    code: str
    reasoning: str
    confidence: float


def cache_enabled() -> bool:
    return bool(agentic_settings.CODE_CACHE.get("ENABLED", True))


def scope_for(user_id: int | None, *, values_in_prompt: bool) -> str | None:
    """The scope a request's entries live in; None when the request must not be cached.

    Sharing is refused at run time too (not only by the system check) when the LLM
    saw data values. Anonymous callers are not cached: nothing tells them apart.
    """
    shared = agentic_settings.CODE_CACHE.get("SCOPE", SCOPE_USER) == SCOPE_SHARED
    if shared and not values_in_prompt:
        return SCOPE_SHARED
    return f"user:{user_id}" if user_id is not None else None


def normalise_question(text: str) -> str:
    """The question as the cache compares it: case, spacing and end punctuation ignored."""
    return " ".join(text.casefold().split()).rstrip("?!. ")


def lookup(key: str, scope: str) -> CachedCode | None:
    """The live entry for ``key`` in ``scope``, counting the hit; None on a miss."""
    moment = now()
    entry = (
        CodeCacheEntry.objects.live(moment)
        .filter(key=key, scope=scope)
        .values_list("pk", "code", "reasoning", "confidence")
        .first()
    )
    if entry is None:
        return None
    pk, code, reasoning, confidence = entry
    CodeCacheEntry.objects.filter(pk=pk).update(
        hits=F("hits") + 1, last_hit_at=moment, last_used_at=moment
    )
    return CachedCode(code, reasoning, confidence)


def store(
    key: str,
    scope: str,
    *,
    endpoint_name: str,
    intent_action: str,
    intent_domain: str,
    code: str,
    reasoning: str,
    confidence: float,
) -> None:
    """Keep code that ran successfully, then evict beyond ``MAX_ENTRIES``."""
    settings: dict[str, Any] = agentic_settings.CODE_CACHE
    moment = now()
    ttl = settings.get("TTL_SECONDS")
    values = {
        "endpoint_name": endpoint_name,
        "intent_action": intent_action,
        "intent_domain": intent_domain,
        "code": code,
        "reasoning": reasoning,
        "confidence": confidence,
        "created_at": moment,
        "last_used_at": moment,
        "last_hit_at": None,
        "hits": 0,
        "expires_at": moment + timedelta(seconds=ttl) if ttl else None,
    }
    try:
        with transaction.atomic():
            CodeCacheEntry.objects.update_or_create(key=key, scope=scope, defaults=values)
    except IntegrityError:
        # Another process stored the same key at the same moment; its entry is as good.
        pass
    evict(int(settings.get("MAX_ENTRIES") or 0))


def evict(max_entries: int) -> int:
    """Delete expired entries and the least recently used beyond ``max_entries``."""
    deleted, _ = CodeCacheEntry.objects.expired(now()).delete()
    if max_entries <= 0:
        return deleted
    surplus = CodeCacheEntry.objects.order_by("-last_used_at", "-pk").values_list("pk", flat=True)[
        max_entries:
    ]
    stale = list(surplus)
    if stale:
        deleted += CodeCacheEntry.objects.filter(pk__in=stale).delete()[0]
    return deleted


def invalidate(*, endpoint_name: str | None = None) -> int:
    """Delete every entry (of one endpoint, when given); returns how many."""
    entries = CodeCacheEntry.objects.all()
    if endpoint_name is not None:
        entries = entries.filter(endpoint_name=endpoint_name)
    return entries.delete()[0]
