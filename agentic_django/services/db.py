"""Where the pipeline runs its own ORM work.

By default it is Django's: ``sync_to_async`` in the request's thread. Under ASGI
Django gives every request a fresh thread, so each request opens and closes its
own database connection, whatever ``CONN_MAX_AGE`` says. With
``AGENTIC_DJANGO["PIPELINE_DB_THREADS"] = N`` the pipeline's reads and writes run
on a process-wide pool of ``N`` threads instead, whose connections live as long
as ``CONN_MAX_AGE`` allows (checked before every use, like Django does between
requests). Handlers' own ORM calls are not affected.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from ..conf import agentic_settings, on_reload

T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _shared_executor(threads: int) -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None or _executor._max_workers != threads:
            _executor = ThreadPoolExecutor(threads, thread_name_prefix="agentic-db")
        return _executor


def _with_connection_upkeep(func: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> T:
        close_old_connections()
        return func(*args, **kwargs)

    return run


async def run_db(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` (ORM work) off the event loop, where the settings say."""
    threads = agentic_settings.PIPELINE_DB_THREADS
    if not threads:
        return await sync_to_async(func)(*args, **kwargs)
    call = sync_to_async(
        _with_connection_upkeep(func),
        thread_sensitive=False,
        executor=_shared_executor(threads),
    )
    return await call(*args, **kwargs)


@on_reload
def _drop_executor() -> None:
    global _executor
    with _lock:
        if _executor is not None:
            _executor.shutdown(wait=False)
            _executor = None
