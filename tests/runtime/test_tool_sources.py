"""Tool sources: tools known only when a loop starts (MCP servers are one)."""

from __future__ import annotations

import pytest

from agentic_django.core.exceptions import ToolError
from agentic_django.llm import LLMMessage, LLMPrompt, MockBackend, ToolCall
from agentic_django.runtime import ToolRegistry, ToolSource, run_agentic_loop, tool


@tool
def local(x: int) -> int:
    """Doubles x."""
    return 2 * x


class Source:
    """A source whose tools appear at run time; counts how often it was asked."""

    source_name = "test source"

    def __init__(self, *tools) -> None:
        self.tools = list(tools)
        self.loads = 0

    async def load_tools(self):
        self.loads += 1
        return self.tools


def test_a_source_is_kept_apart_from_the_tools():
    source = Source()
    registry = ToolRegistry([local, source])
    assert isinstance(source, ToolSource)
    assert registry.names == ["local"] and registry.sources == [source]
    assert len(registry) == 2


async def test_a_loop_sees_the_tools_of_its_sources_loaded_when_it_starts():
    @tool
    def remote(word: str) -> str:
        """Shouts the word."""
        return word.upper()

    source = Source(remote)
    registry = ToolRegistry([local, source])
    llm = MockBackend()
    llm.add_tool_call_response(ToolCall(id="c1", name="remote", arguments={"word": "hi"}))
    llm.add_response("HI")
    prompt = LLMPrompt(system="s", messages=[LLMMessage(role="user", content="shout hi")])
    result = await run_agentic_loop(llm, registry, prompt)
    assert result.final_text == "HI"
    assert [t["name"] for t in llm.prompts[0].tools] == ["local", "remote"]
    assert source.loads == 1
    assert [(c.tool, c.result_summary) for c in result.tool_calls] == [("remote", '"HI"')]


async def test_a_source_tool_clashing_with_a_local_one_is_refused():
    registry = ToolRegistry([local, Source(local)])
    with pytest.raises(ToolError, match="clashes"):
        await registry.resolved()
