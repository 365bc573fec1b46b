"""Depends resolves only what injection needs, and refuses cycles and deep chains at start-up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from agentic_django.core.context import AgentContext
from agentic_django.core.dependencies import (
    MAX_DEPENDENCY_DEPTH,
    Depends,
    InjectionError,
    Solver,
    check_dependencies,
    scan,
)
from agentic_django.core.intent import Intent, IntentAction

from . import typing_only_deps

INTENT = Intent(raw="r", action=IntentAction.READ, domain="d")
VALUES = {"intent": INTENT, "context": AgentContext(trace_id="t", endpoint_name="e")}


async def test_annotations_imported_only_for_type_checkers_do_not_break_injection() -> None:
    plan = scan(typing_only_deps.handler)
    check_dependencies(plan)
    async with Solver(VALUES) as solver:
        assert await solver.call(plan) == {"rate": Decimal("1.5")}


def test_an_injected_parameter_whose_annotation_cannot_resolve_is_named() -> None:
    with pytest.raises(InjectionError, match=r"parameter 'value'.*TYPE_CHECKING"):
        scan(typing_only_deps.needs_unknown, positional_defaults=False)


def make_cycle() -> tuple[Any, Any]:
    def first(value: Any = None) -> int:
        return 1

    def second(value: int = Depends(first)) -> int:
        return value

    first.__defaults__ = (Depends(second),)
    return first, second


def test_a_cycle_is_named_with_its_chain() -> None:
    first, _ = make_cycle()

    async def handler(intent, value: int = Depends(first)) -> int:
        return value

    with pytest.raises(InjectionError, match=r"Dependency cycle: .*first -> .*second -> .*first"):
        check_dependencies(scan(handler))


def test_a_chain_deeper_than_the_limit_is_refused() -> None:
    def leaf() -> int:
        return 0

    chain = leaf
    for _ in range(MAX_DEPENDENCY_DEPTH + 2):

        def link(value: int = Depends(chain)) -> int:
            return value + 1

        chain = link

    async def handler(intent, value: int = Depends(chain)) -> int:
        return value

    with pytest.raises(InjectionError, match=f"deeper than {MAX_DEPENDENCY_DEPTH}"):
        check_dependencies(scan(handler))


def test_registration_refuses_a_cycle(site) -> None:
    first, _ = make_cycle()
    with pytest.raises(ImproperlyConfigured, match="Agent endpoint 'cyclic': Dependency cycle"):

        @site.agent_endpoint("cyclic", description="Never registered.")
        async def cyclic(intent, value: int = Depends(first)) -> int:
            return value


async def test_a_cycle_made_by_an_override_is_reported_and_never_recurses(site) -> None:
    def shop() -> str:
        return "main"

    def account(name: str = Depends(shop)) -> str:
        return name

    @site.agent_endpoint("accounts", description="Accounts.")
    async def accounts(intent, name: str = Depends(account)) -> str:
        return name

    def looping_shop(name: str = Depends(account)) -> str:
        return name

    site.dependency_overrides[shop] = looping_shop
    try:
        errors = [m for m in checks.run_checks() if m.id == "agentic_django.E004"]
        assert any("'accounts'" in m.msg and "Dependency cycle" in m.msg for m in errors)
        async with Solver(VALUES, overrides=site.dependency_overrides) as solver:
            with pytest.raises(InjectionError, match="cycle or chain too deep"):
                await solver.call(site.get("accounts").injection_plan)
    finally:
        site.dependency_overrides.clear()
