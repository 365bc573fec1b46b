"""Helpers for testing projects that use agentic_django.

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

from .registry import AgentSite, agents


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
