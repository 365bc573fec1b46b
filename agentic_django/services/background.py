"""Handing a request's :class:`~agentic_django.core.tasks.AgentTasks` to the task runner.

``TASK_RUNNER="inline"`` runs them in process after the response is produced;
``"celery"`` sends each to a worker, which imports the function by its dotted
path, so ``add_task`` refuses functions a worker could not import and arguments
that are not JSON.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import TASK_RUNNERS, agentic_settings
from ..core.tasks import AgentTasks

logger = logging.getLogger("agentic_django.tasks")


def dotted_path(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def check_shippable(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Refuse, at ``add_task`` time, a task a Celery worker could not run."""
    path = dotted_path(func)
    try:
        found = import_string(path)
    except ImportError:
        found = None
    if found is not func:
        raise TypeError(
            f"With TASK_RUNNER='celery', add_task() needs a module-level function a worker "
            f"can import by its dotted path; {path!r} is not one (a lambda, a nested or "
            "decorated function, or a bound method)."
        )
    try:
        json.dumps([list(args), kwargs])
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"With TASK_RUNNER='celery', the arguments of {path!r} must be JSON-serialisable "
            f"(pass primary keys, not model instances): {exc}"
        ) from exc


def new_tasks() -> AgentTasks:
    """An empty task collector for one request, validated for the configured runner."""
    runner = agentic_settings.TASK_RUNNER
    if runner not in TASK_RUNNERS:
        raise ImproperlyConfigured(
            f"AGENTIC_DJANGO['TASK_RUNNER'] must be one of {TASK_RUNNERS}, got {runner!r}."
        )
    return AgentTasks(validator=check_shippable if runner == "celery" else None)


async def dispatch(tasks: AgentTasks) -> None:
    """Run or send the collected tasks; failures are logged and never reach the caller."""
    if not tasks.pending_count:
        return
    if agentic_settings.TASK_RUNNER == "celery":
        from ..tasks import run_agent_task

        for task in tasks.clear():
            try:
                run_agent_task.delay(dotted_path(task.func), list(task.args), task.kwargs)
            except Exception:
                logger.exception("Could not send background task %s to Celery", task.name)
        return
    failures = await tasks.execute()
    if failures:
        logger.warning("%d background task(s) failed", failures)


def run_by_path(path: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """On a worker: import and call a task (coroutine functions run to completion)."""
    func = import_string(path)
    if inspect.iscoroutinefunction(func):
        return async_to_sync(func)(*args, **kwargs)
    return func(*args, **kwargs)
