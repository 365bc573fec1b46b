"""Sandboxes configured by alias in ``AGENTIC_DJANGO["SANDBOX"]``, one per process.

A fork-server sandbox keeps warm interpreter processes, so it is built on first
use and reused by every request of the process; it is closed when the settings
change and when the process exits.
"""

from __future__ import annotations

import atexit
import threading

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import SETTINGS_NAME, agentic_settings, on_reload
from ..harness import Sandbox


class Sandboxes:
    """Lazily built sandboxes by alias."""

    def __init__(self) -> None:
        self._built: dict[str, Sandbox] = {}
        self._lock = threading.Lock()

    def __contains__(self, alias: object) -> bool:
        return alias in agentic_settings.SANDBOX

    def __getitem__(self, alias: str) -> Sandbox:
        sandbox = self._built.get(alias)
        if sandbox is None:
            with self._lock:
                sandbox = self._built.get(alias)
                if sandbox is None:
                    sandbox = self._built[alias] = build_sandbox(alias)
        return sandbox

    def close_all(self) -> None:
        with self._lock:
            built, self._built = self._built, {}
        for sandbox in built.values():
            sandbox.close()


def build_sandbox(alias: str) -> Sandbox:
    config = agentic_settings.SANDBOX.get(alias)
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise ImproperlyConfigured(
            f"No sandbox is configured under the alias {alias!r}: add "
            f"{SETTINGS_NAME}['SANDBOX'][{alias!r}] = {{'BACKEND': '...'}}."
        )
    try:
        backend_class = import_string(config["BACKEND"])
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTINGS_NAME}['SANDBOX'][{alias!r}]: cannot import {config['BACKEND']!r}: {exc}"
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, Sandbox)):
        raise ImproperlyConfigured(
            f"{SETTINGS_NAME}['SANDBOX'][{alias!r}]: {config['BACKEND']!r} is not a Sandbox."
        )
    sandbox: Sandbox = backend_class(**dict(config.get("OPTIONS", {})))
    return sandbox


sandboxes = Sandboxes()
atexit.register(sandboxes.close_all)


@on_reload
def _close() -> None:
    sandboxes.close_all()
