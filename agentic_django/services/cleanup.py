"""Retention: delete expired sessions and traces past their retention, in batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import models, transaction
from django.utils import timezone

from ..conf import agentic_settings
from ..models import LIVE_RUN_STATES, AgentRun, AgentSession, ExecutionTrace, StreamEvent


def delete_in_batches(queryset: models.QuerySet, *, batch_size: int, dry_run: bool = False) -> int:
    """Delete the rows of ``queryset`` ``batch_size`` primary keys at a time.

    Each batch is its own transaction, so a long cleanup never holds one big lock.
    """
    if dry_run:
        return queryset.count()
    deleted = 0
    while True:
        pks = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return deleted
        with transaction.atomic():
            queryset.model._default_manager.filter(pk__in=pks).delete()
        deleted += len(pks)


def cleanup(
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    report: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Apply the retention settings; returns the number of rows (to be) deleted per kind."""
    size = batch_size or agentic_settings.CLEANUP_BATCH_SIZE
    now = timezone.now()
    trace_cutoff = now - timedelta(days=agentic_settings.TRACE_RETENTION_DAYS)
    old_runs = AgentRun.objects.exclude(status__in=LIVE_RUN_STATES).filter(
        created_at__lt=trace_cutoff
    )
    targets = {
        "traces": ExecutionTrace.objects.older_than(trace_cutoff),
        "sessions": AgentSession.objects.expired(now),
        # Events first, in batches: a run may hold thousands of them.
        "stream events": StreamEvent.objects.filter(run__in=old_runs),
        "runs": old_runs,
    }
    counts: dict[str, int] = {}
    for kind, queryset in targets.items():
        counts[kind] = delete_in_batches(queryset, batch_size=size, dry_run=dry_run)
        if report is not None:
            report(kind, counts[kind])
    return counts
