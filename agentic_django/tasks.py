"""Celery tasks of agentic_django. Each takes primary keys or plain data and calls one service.

Add ``app.autodiscover_tasks()`` to your project's Celery app (the standard
setup) and set ``AGENTIC_DJANGO["TASK_RUNNER"] = "celery"``. Schedule
``agentic_django.expire_approvals`` with Celery beat (every minute is plenty)::

    CELERY_BEAT_SCHEDULE = {
        "agentic-expire-approvals": {"task": "agentic_django.expire_approvals", "schedule": 60.0},
        "agentic-requeue-approvals": {
            "task": "agentic_django.requeue_stalled_approvals",
            "schedule": 60.0,
        },
        # Retention (TRACE_RETENTION_DAYS and the others), once a day.
        "agentic-cleanup": {"task": "agentic_django.cleanup", "schedule": 24 * 60 * 60.0},
    }
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from celery import shared_task
from django.db import DatabaseError

#: Warn (``approval_expiring``) this long before a pending request expires.
EXPIRY_WARNING = timedelta(minutes=10)


@shared_task(bind=True, name="agentic_django.execute_approved", acks_late=True, max_retries=10)
def execute_approved(self: Any, pk: int) -> str:
    """Carry out a decided approval request (claimed exactly once across workers).

    When the database is away the task is retried with backoff; a claim it could
    not release lapses with its lease, and ``requeue_stalled_approvals`` (or a
    retry) takes the request again.
    """
    from .services.approval_runs import carry_out

    try:
        request = async_to_sync(carry_out)(pk)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60)) from exc
    return "nothing to do" if request is None else str(request.status)


@shared_task(name="agentic_django.requeue_stalled_approvals")
def requeue_stalled_approvals() -> int:
    """Send again approvals a dead worker left claimed, or whose message was lost."""
    from .services.approval_runs import requeue_stalled

    return requeue_stalled()


@shared_task(name="agentic_django.expire_approvals")
def expire_approvals() -> int:
    """Mark pending requests past their time as expired; announce those about to expire."""
    from .services.approvals import expire_due

    return expire_due(warn_within=EXPIRY_WARNING)


@shared_task(name="agentic_django.run_agent_task", acks_late=True)
def run_agent_task(path: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """An ``AgentTasks.add_task`` call sent to a worker: the function by dotted path."""
    from .services.background import run_by_path

    run_by_path(path, args, kwargs)


@shared_task(name="agentic_django.cleanup")
def cleanup() -> dict[str, int]:
    """Apply the retention settings (what ``manage.py agentic_cleanup`` does), in batches."""
    from .services.cleanup import cleanup as apply_retention

    return apply_retention()
