"""Retention: delete what has outlived its retention setting, in batches.

What goes, per kind (in this order, so nothing is updated just before it is deleted):

* ``stream events`` and ``runs``: finished runs older than ``RUN_RETENTION_DAYS``;
* ``llm calls``: the calls of the traces about to go, and calls recorded outside
  any trace older than ``LLM_CALL_RETENTION_DAYS``;
* ``traces``: older than ``TRACE_RETENTION_DAYS``, except those of approval
  requests still pending, approved or executing (the action must run as reviewed);
* ``sessions``: expired ones (with their turns);
* ``code cache entries``: expired ones.

Live runs, approval requests, and the admin-managed ``Agent`` / ``AgentChange``
rows (the audit of who changed what) are never deleted here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import models, transaction
from django.utils import timezone

from ..conf import agentic_settings
from ..models import (
    LIVE_RUN_STATES,
    AgentRun,
    AgentSession,
    ApprovalRequest,
    ApprovalStatus,
    CodeCacheEntry,
    ExecutionTrace,
    LLMCall,
    StreamEvent,
)

#: Approval requests in these states still need their trace (and its checkpoint).
OPEN_APPROVAL_STATES = (ApprovalStatus.PENDING, ApprovalStatus.APPROVED, ApprovalStatus.EXECUTING)


def delete_in_batches(queryset: models.QuerySet, *, batch_size: int, dry_run: bool = False) -> int:
    """Delete the rows of ``queryset`` ``batch_size`` primary keys at a time.

    Each batch is its own transaction, so a long cleanup never holds one big lock.
    Returns the number of rows of the queryset's own model (deleted, or that would be).
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


def _cutoff(now: datetime, days: int | None) -> datetime:
    return now - timedelta(days=days if days is not None else agentic_settings.TRACE_RETENTION_DAYS)


def retention_targets(now: datetime | None = None) -> dict[str, models.QuerySet]:
    """What the retention settings allow to delete, by kind, in deletion order."""
    now = now or timezone.now()
    trace_cutoff = _cutoff(now, agentic_settings.TRACE_RETENTION_DAYS)
    old_runs = AgentRun.objects.exclude(status__in=LIVE_RUN_STATES).filter(
        created_at__lt=_cutoff(now, agentic_settings.RUN_RETENTION_DAYS)
    )
    still_needed = ApprovalRequest.objects.filter(
        status__in=OPEN_APPROVAL_STATES, trace__isnull=False
    ).values("trace_id")
    old_traces = ExecutionTrace.objects.older_than(trace_cutoff).exclude(pk__in=still_needed)
    llm_calls = LLMCall.objects.filter(
        models.Q(trace__in=old_traces.values("pk"))
        | models.Q(
            trace__isnull=True,
            created_at__lt=_cutoff(now, agentic_settings.LLM_CALL_RETENTION_DAYS),
        )
    )
    return {
        # Events first, in batches: a run may hold thousands of them.
        "stream events": StreamEvent.objects.filter(run__in=old_runs.values("pk")),
        "runs": old_runs,
        # Explicitly rather than by cascade, so the counts (and the dry run) are exact.
        "llm calls": llm_calls,
        "traces": old_traces,
        "sessions": AgentSession.objects.expired(now),
        "code cache entries": CodeCacheEntry.objects.expired(now),
    }


def cleanup(
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    report: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Apply the retention settings; returns the number of rows (to be) deleted per kind."""
    size = batch_size or agentic_settings.CLEANUP_BATCH_SIZE
    counts: dict[str, int] = {}
    for kind, queryset in retention_targets().items():
        counts[kind] = delete_in_batches(queryset, batch_size=size, dry_run=dry_run)
        if report is not None:
            report(kind, counts[kind])
    return counts


def deletable(queryset: models.QuerySet) -> models.QuerySet:
    """The part of ``queryset`` the retention rules allow a person to delete now.

    Admin deletes of audit data follow the same rules as ``agentic_cleanup``: a
    trace or an LLM call only once its retention period is over (and never the
    trace of an open approval), an approval request only once it is closed.
    """
    model = queryset.model
    if model is ExecutionTrace:
        allowed = retention_targets()["traces"]
    elif model is LLMCall:
        allowed = retention_targets()["llm calls"]
    elif model is ApprovalRequest:
        return queryset.exclude(status__in=OPEN_APPROVAL_STATES)
    else:
        return queryset
    return queryset.filter(pk__in=allowed.values("pk"))


def may_delete(obj: models.Model) -> bool:
    """Whether the retention rules allow deleting ``obj`` now (see :func:`deletable`)."""
    return deletable(type(obj)._default_manager.filter(pk=obj.pk)).exists()
