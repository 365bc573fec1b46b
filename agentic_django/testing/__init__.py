"""Helpers for testing projects that use agentic_django, with pytest or ``manage.py test``.

Mock LLMs: :class:`MockBackend` (queued replies) and :class:`FunctionBackend`
(replies computed by a function), installed per alias with :func:`use_llm`, the
:class:`AgenticTestMixin` for Django's ``TestCase`` classes, or the ``mock_llm`` /
``function_llm`` pytest fixtures (enable them with
``pytest_plugins = ["agentic_django.testing"]``). pytest is not a dependency:
without it this module still imports, only the fixtures are absent.

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
from importlib.util import find_spec
from typing import Any

from ..llm import FunctionBackend, LLMBackend, MockBackend
from ..registry import AgentSite, agents

__all__ = [
    "AgenticTestMixin",
    "FunctionBackend",
    "MockBackend",
    "isolated_agents",
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
    from ..services.llm import llm_backends

    with llm_backends.override(alias, backend):
        yield backend


class AgenticTestMixin:
    """For ``manage.py test``: each test gets its own registry view and a mock LLM.

    Put it before ``django.test.TestCase`` (or ``TransactionTestCase``)::

        class OrdersTests(AgenticTestMixin, TestCase):
            def test_summary(self):
                self.mock_llm.add_response("Three orders shipped.")
                ...

    ``self.mock_llm`` serves the alias in ``mock_llm_alias`` ("default"); endpoints
    registered and dependencies overridden in a test are rolled back after it.
    """

    mock_llm_alias = "default"
    mock_llm: MockBackend

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.enterContext(isolated_agents())  # type: ignore[attr-defined]
        self.mock_llm = self.enterContext(  # type: ignore[attr-defined]
            use_llm(MockBackend(), self.mock_llm_alias)
        )


if find_spec("pytest") is not None:
    # ``pytest_plugins = ["agentic_django.testing"]`` collects these from this module.
    from .fixtures import function_llm, mock_llm

    __all__ += ["function_llm", "mock_llm"]
