"""Generated code that ran successfully, reused for the same question."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CodeCacheEntryQuerySet(models.QuerySet["CodeCacheEntry"]):
    def live(self, now: datetime | None = None) -> CodeCacheEntryQuerySet:
        return self.filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now or timezone.now())
        )

    def expired(self, now: datetime | None = None) -> CodeCacheEntryQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())


class CodeCacheEntry(models.Model):
    """Generated code that ran successfully, reused for the same request shape.

    ``key`` hashes the endpoint, intent action and domain, tool and policy sets and
    the normalised parameters; ``scope`` is ``user:<pk>``, ``anonymous`` or ``shared``,
    so one user's code, which may embed values from the data the LLM saw, is never
    served to another unless the endpoint shares it on purpose.
    """

    key = models.CharField(max_length=64)
    scope = models.CharField(max_length=100)
    endpoint_name = models.CharField(max_length=200)
    intent_action = models.CharField(max_length=32, blank=True)
    intent_domain = models.CharField(max_length=100, blank=True)
    code = models.TextField()
    reasoning = models.TextField(blank=True)
    confidence = models.FloatField(default=1.0)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    #: When the entry was last stored or served; the least recent are evicted first.
    last_used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = CodeCacheEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("code cache entry")
        verbose_name_plural = _("code cache entries")
        ordering = ("-last_used_at",)
        constraints = [
            models.UniqueConstraint(fields=["key", "scope"], name="agentic_codecache_key_scope")
        ]
        indexes = [
            models.Index(fields=["last_used_at"], name="agentic_codecache_lru_idx"),
            models.Index(fields=["expires_at"], name="agentic_codecache_expires_idx"),
            models.Index(
                fields=["endpoint_name", "-last_used_at"], name="agentic_codecache_endpoint_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_name} {self.key[:12]} ({self.scope})"
