from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agentic_django.core.context import AgentContext
from agentic_django.core.dependencies import Depends, InjectionError, Solver, scan
from agentic_django.core.files import UploadedFiles
from agentic_django.core.intent import Intent, IntentAction
from agentic_django.core.tasks import AgentTasks


class Payload(BaseModel):
    n: int = 1


class FakeRequest:
    pass


INTENT = Intent(raw="r", action=IntentAction.READ, domain="d")
CONTEXT = AgentContext(trace_id="t", endpoint_name="e")


def values(**extra: Any) -> dict[str, Any]:
    return {
        "intent": INTENT,
        "context": CONTEXT,
        "tasks": AgentTasks(),
        "files": UploadedFiles(),
        "request": FakeRequest(),
        **extra,
    }


async def solve(func, *, overrides=None, **extra):
    plan = scan(func, extra_injectables={FakeRequest: "request"})
    async with Solver(
        values(**extra), overrides=overrides, extra_injectables={FakeRequest: "request"}
    ) as solver:
        return await solver.call(plan)


async def test_first_two_unannotated_parameters_are_intent_and_context():
    async def handler(i, c):
        return i, c

    assert await solve(handler) == (INTENT, CONTEXT)


async def test_builtins_are_injected_by_annotation_in_any_order():
    def handler(
        files: UploadedFiles, req: FakeRequest, tasks: AgentTasks, ctx: AgentContext, it: Intent
    ):
        return files, req, tasks, ctx, it

    files, req, tasks, ctx, it = await solve(handler)
    assert isinstance(files, UploadedFiles) and isinstance(req, FakeRequest)
    assert isinstance(tasks, AgentTasks) and ctx is CONTEXT and it is INTENT


def test_typed_intent_annotation_exposes_its_schema():
    async def handler(intent: Intent[Payload], context):
        return None

    assert scan(handler).intent_schema is Payload
    assert scan(lambda intent, context: None).intent_schema is None


def test_an_unresolvable_parameter_is_refused_at_scan_time():
    def handler(intent, context, mystery):
        return None

    with pytest.raises(InjectionError, match="mystery"):
        scan(handler)


async def test_parameters_with_defaults_keep_them():
    def handler(intent, context, limit=7):
        return limit

    assert await solve(handler) == 7


async def test_depends_resolves_sync_async_and_nested_dependencies():
    def base(intent: Intent) -> str:
        return intent.raw

    async def derived(prefix: str = Depends(base)) -> str:
        return prefix + "!"

    async def handler(intent, context, value: str = Depends(derived), raw: str = Depends(base)):
        return value, raw

    assert await solve(handler) == ("r!", "r")


async def test_a_dependency_runs_once_per_request_unless_caching_is_off():
    calls = []

    def counter() -> int:
        calls.append(1)
        return len(calls)

    async def handler(a: int = Depends(counter), b: int = Depends(counter)):
        return a, b

    assert await solve(handler) == (1, 1)

    async def uncached(
        a: int = Depends(counter, use_cache=False), b=Depends(counter, use_cache=False)
    ):
        return a, b

    assert await solve(uncached) == (2, 3)


async def test_generator_dependencies_tear_down_after_the_handler_even_on_error():
    events = []

    def resource():
        events.append("open")
        yield "conn"
        events.append("close")

    async def async_resource():
        events.append("aopen")
        yield "aconn"
        events.append("aclose")

    async def handler(r=Depends(resource), a=Depends(async_resource)):
        events.append(f"use {r} {a}")
        return "ok"

    assert await solve(handler) == "ok"
    assert events == ["open", "aopen", "use conn aconn", "aclose", "close"]


async def test_teardown_in_finally_runs_when_the_handler_raises():
    events = []

    def resource():
        events.append("open")
        try:
            yield "conn"
        finally:
            events.append("close")

    async def failing(r=Depends(resource)):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await solve(failing)
    assert events == ["open", "close"]


async def test_overrides_replace_a_dependency():
    def real() -> str:
        return "real"

    def fake() -> str:
        return "fake"

    async def handler(value=Depends(real)):
        return value

    assert await solve(handler, overrides={real: fake}) == "fake"


def test_depends_needs_a_callable():
    with pytest.raises(TypeError):
        Depends("nope")  # type: ignore[arg-type]
