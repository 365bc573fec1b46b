"""Helpers for testing projects that use agentic_django.

Mock LLMs: :class:`MockBackend` (queued replies) and :class:`FunctionBackend`
(replies computed by a function), installed per alias with :func:`use_llm` or the
``mock_llm`` / ``function_llm`` pytest fixtures (enable them with
``pytest_plugins = ["agentic_django.testing"]``).

``isolated_agents()`` gives a test its own view of the registry; anything it
registers or overrides is rolled back afterwards::

    def test_my_agent(client):
        with isolated_agents() as site:
            site.agent_endpoint("temp")(my_handler)
            ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .llm import FunctionBackend, LLMBackend, MockBackend
from .registry import AgentSite, agents

__all__ = [
    "FunctionBackend",
    "MockBackend",
    "function_llm",
    "isolated_agents",
    "mock_llm",
    "override_dependency",
    "use_llm",
]


@contextmanager
def isolated_agents(site: AgentSite = agents) -> Iterator[AgentSite]:
    """Restore ``site``'s endpoints and dependency overrides when the block exits."""
    endpoints = dict(site._registry)
    overrides = dict(site.dependency_overrides)
    try:
        yield site
    finally:
        site._registry.clear()
        site._registry.update(endpoints)
        site.dependency_overrides.clear()
        site.dependency_overrides.update(overrides)


@contextmanager
def override_dependency(
    dependency: Callable[..., Any], replacement: Callable[..., Any], site: AgentSite = agents
) -> Iterator[None]:
    """Use ``replacement`` wherever handlers of ``site`` declare ``Depends(dependency)``."""
    with isolated_agents(site):
        site.dependency_overrides[dependency] = replacement
        yield


@contextmanager
def use_llm(backend: LLMBackend, alias: str = "default") -> Iterator[LLMBackend]:
    """Serve ``alias`` from ``backend`` (e.g. a :class:`MockBackend`) inside the block."""
    from .services.llm import llm_backends

    with llm_backends.override(alias, backend):
        yield backend


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
