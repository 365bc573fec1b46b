"""Handing a request's :class:`~agentic_django.core.tasks.AgentTasks` to the task runner."""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured

from ..conf import TASK_RUNNERS, agentic_settings
from ..core.tasks import AgentTasks

logger = logging.getLogger("agentic_django.tasks")


def new_tasks() -> AgentTasks:
    """An empty task collector for one request, validated for the configured runner."""
    runner = agentic_settings.TASK_RUNNER
    if runner not in TASK_RUNNERS:
        raise ImproperlyConfigured(
            f"AGENTIC_DJANGO['TASK_RUNNER'] must be one of {TASK_RUNNERS}, got {runner!r}."
        )
    return AgentTasks()


async def dispatch(tasks: AgentTasks) -> None:
    """Run the collected tasks; failures are logged and never reach the caller."""
    if tasks.pending_count:
        failures = await tasks.execute()
        if failures:
            logger.warning("%d background task(s) failed", failures)
