"""Background work a handler schedules to run after its response is produced."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("agentic_django.tasks")

#: Checks a task when it is added (e.g. that a Celery runner can ship it);
#: raises a clear error to refuse it.
TaskValidator = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class BackgroundTask:
    """One scheduled call."""

    func: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{getattr(self.func, '__module__', '?')}.{getattr(self.func, '__qualname__', '?')}"


class AgentTasks:
    """Collects calls with :meth:`add_task`; a task runner carries them out later.

    Inject it into a handler by annotating a parameter with ``AgentTasks``.
    """

    def __init__(self, *, validator: TaskValidator | None = None) -> None:
        self._tasks: list[BackgroundTask] = []
        self._validator = validator

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Schedule ``func(*args, **kwargs)`` to run after the response."""
        if not callable(func):
            raise TypeError(f"add_task() needs a callable, got {type(func).__name__}")
        if self._validator is not None:
            self._validator(func, args, kwargs)
        self._tasks.append(BackgroundTask(func, args, dict(kwargs)))

    @property
    def pending_count(self) -> int:
        return len(self._tasks)

    @property
    def tasks(self) -> list[BackgroundTask]:
        return list(self._tasks)

    def clear(self) -> list[BackgroundTask]:
        """Remove and return the scheduled tasks (a runner takes ownership of them)."""
        taken, self._tasks = self._tasks, []
        return taken

    async def execute(self) -> int:
        """Run every pending task in order; a failing task is logged, never raised.

        Sync callables run in a worker thread so they cannot block the event
        loop. Returns the number of tasks that failed.
        """
        failures = 0
        for task in self.clear():
            try:
                await run_task(task)
            except Exception:
                failures += 1
                logger.exception("Background task %s failed", task.name)
        return failures


async def run_task(task: BackgroundTask) -> Any:
    """Call one task, awaiting coroutines and offloading sync functions to a thread."""
    if inspect.iscoroutinefunction(task.func):
        return await task.func(*task.args, **task.kwargs)
    result = await asyncio.to_thread(task.func, *task.args, **task.kwargs)
    if inspect.isawaitable(result):
        return await result
    return result
