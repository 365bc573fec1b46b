from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from agentic_django.core.exceptions import ToolError
from agentic_django.runtime.tools import FunctionTool, ToolContext, ToolRegistry, tool


@tool
def get_weather(city: str, days: int = 1) -> dict[str, Any]:
    """Forecast for a city.

    Longer explanation that is not part of the description.
    """
    return {"city": city, "days": days}


@tool(name="whoami", requires_approval=True, capabilities=("identity",))
async def current_user(context: ToolContext, greeting: str = "hi") -> str:
    return f"{greeting} {context.user_id}"


class Window(BaseModel):
    start: int
    end: int


@tool
async def count_in_window(window: Window, tags: list[str] | None = None) -> int:
    return window.end - window.start + len(tags or [])


def test_definition_schema_comes_from_the_signature() -> None:
    definition = get_weather.definition
    assert definition["name"] == "get_weather"
    assert definition["description"] == "Forecast for a city."
    parameters = definition["parameters"]
    assert parameters["required"] == ["city"]
    assert parameters["properties"]["city"]["type"] == "string"
    assert parameters["properties"]["days"] == {"default": 1, "title": "Days", "type": "integer"}


def test_context_parameter_is_hidden_from_the_schema_and_options_are_kept() -> None:
    assert current_user.name == "whoami"
    assert current_user.requires_approval is True
    assert current_user.capabilities == frozenset({"identity"})
    assert "context" not in current_user.definition["parameters"]["properties"]


def test_nested_models_appear_in_the_schema() -> None:
    schema = count_in_window.definition["parameters"]
    assert "window" in schema["required"]
    assert "Window" in schema["$defs"]


async def test_invoke_validates_and_coerces_arguments_for_a_sync_function() -> None:
    assert await get_weather.invoke({"city": "Oslo", "days": "3"}) == {"city": "Oslo", "days": 3}


async def test_invoke_runs_sync_functions_through_run_sync() -> None:
    seen: list[str] = []

    async def run_sync(fn: Callable[[], Any]) -> Any:
        seen.append("used")
        return fn()

    @tool(run_sync=run_sync)
    def add(a: int, b: int) -> int:
        return a + b

    assert await add.invoke({"a": 2, "b": 3}) == 5
    assert seen == ["used"]


async def test_sync_functions_run_off_the_event_loop_thread_by_default() -> None:
    @tool
    def thread_name() -> str:
        return threading.current_thread().name

    assert await thread_name.invoke({}) != threading.current_thread().name


async def test_async_function_receives_the_injected_context() -> None:
    result = await current_user.invoke({"greeting": "hello"}, ToolContext(user_id="42"))
    assert result == "hello 42"


async def test_nested_model_arguments_arrive_as_models() -> None:
    assert await count_in_window.invoke({"window": {"start": 2, "end": 5}, "tags": ["a"]}) == 4


async def test_invalid_arguments_raise_tool_error_listing_every_field() -> None:
    with pytest.raises(ToolError) as info:
        await get_weather.invoke({"days": "many", "color": "red"})
    message = info.value.message
    assert "get_weather" in message
    assert "city: Field required" in message
    assert "days: Input should be a valid integer" in message
    assert "color: Extra inputs are not permitted" in message


def test_var_kwargs_are_rejected() -> None:
    def loose(**kwargs: Any) -> None:
        return None

    with pytest.raises(TypeError, match="kwargs"):
        tool(loose)


def test_the_decorated_tool_is_still_callable() -> None:
    assert get_weather("Rome") == {"city": "Rome", "days": 1}


def test_registry_lists_definitions_and_filters_by_capability() -> None:
    registry = ToolRegistry([get_weather, current_user])
    assert [d["name"] for d in registry.definitions()] == ["get_weather", "whoami"]
    assert registry.by_capability("identity") == [current_user]
    assert "whoami" in registry
    assert len(registry) == 2
    assert list(registry) == [get_weather, current_user]


def test_registry_wraps_plain_functions() -> None:
    def ping() -> str:
        """Answer pong."""
        return "pong"

    registered = ToolRegistry().register(ping)
    assert isinstance(registered, FunctionTool)
    assert registered.description == "Answer pong."


def test_registry_refuses_duplicate_names() -> None:
    registry = ToolRegistry([get_weather])
    with pytest.raises(ValueError, match="get_weather"):
        registry.register(get_weather)


def test_registry_unknown_tool_raises_tool_error_naming_the_known_ones() -> None:
    registry = ToolRegistry([get_weather])
    with pytest.raises(ToolError, match="available tools: get_weather"):
        registry.get("nope")
