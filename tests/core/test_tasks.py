from __future__ import annotations

import logging
import threading

import pytest

from agentic_django.core.tasks import AgentTasks


async def test_tasks_run_in_order_sync_in_a_thread_and_async_awaited():
    calls: list[tuple[str, object]] = []

    def sync_task(value):
        calls.append(("sync", threading.current_thread() is threading.main_thread()))

    async def async_task(value, *, suffix):
        calls.append(("async", value + suffix))

    tasks = AgentTasks()
    tasks.add_task(sync_task, 1)
    tasks.add_task(async_task, "a", suffix="b")
    assert tasks.pending_count == 2
    assert await tasks.execute() == 0
    assert calls == [("sync", False), ("async", "ab")]
    assert tasks.pending_count == 0


async def test_a_failing_task_is_logged_and_the_others_still_run(caplog):
    ran = []

    def broken():
        raise RuntimeError("kaput")

    tasks = AgentTasks()
    tasks.add_task(broken)
    tasks.add_task(ran.append, "after")
    with caplog.at_level(logging.ERROR, logger="agentic_django.tasks"):
        failures = await tasks.execute()
    assert failures == 1
    assert ran == ["after"]
    assert "kaput" in caplog.text


def test_validator_refuses_at_add_time():
    def refuse(func, args, kwargs):
        raise ValueError("cannot ship a lambda")

    tasks = AgentTasks(validator=refuse)
    with pytest.raises(ValueError, match="lambda"):
        tasks.add_task(lambda: None)
    assert tasks.pending_count == 0


def test_add_task_needs_a_callable():
    with pytest.raises(TypeError):
        AgentTasks().add_task("not callable")  # type: ignore[arg-type]
