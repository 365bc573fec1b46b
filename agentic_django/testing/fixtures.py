"""The pytest fixtures of :mod:`agentic_django.testing` (imported only when pytest is there)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..llm import FunctionBackend, MockBackend
from . import use_llm

__all__ = ["function_llm", "mock_llm"]


@pytest.fixture
def mock_llm() -> Iterator[MockBackend]:
    """A :class:`MockBackend` serving the ``"default"`` alias for one test.

    Queue replies with ``mock_llm.add_response(...)``, ``add_structured_response``
    or ``add_tool_call_response``; inspect ``mock_llm.prompts`` and ``call_count``.
    Use it with ``pytest_plugins = ["agentic_django.testing"]`` in a conftest.
    """
    with use_llm(MockBackend()) as backend:
        yield backend  # type: ignore[misc]


@pytest.fixture
def function_llm() -> Iterator[Callable[..., FunctionBackend]]:
    """A factory: ``function_llm(fn)`` serves ``"default"`` from ``FunctionBackend(fn)``."""
    stack: list[Any] = []

    def install(fn: Callable[..., Any], alias: str = "default") -> FunctionBackend:
        manager = use_llm(FunctionBackend(fn), alias)
        stack.append(manager)
        return manager.__enter__()  # type: ignore[return-value]

    yield install
    while stack:
        stack.pop().__exit__(None, None, None)
