"""The tools of an MCP server, offered to an agent: ``tools=[mcp_tools("alias")]``.

Each remote tool becomes a :class:`~agentic_django.runtime.Tool` of the agentic
loop, so it goes through everything the endpoint's own tools do: the policies on
its arguments, ``requires_approval`` (durable: the worker that carries out the
approved call reconnects to the server), budgets, the trace's tool-call record,
the admin kill switch, the loop's per-call timeout and result size. On top of
that, what comes from the server is treated as untrusted text: a tool whose
description carries a prompt injection is not offered to the model, a result
that carries one is withheld, and results are cut to ``MAX_RESULT_CHARS``. A
server that is down, or a call that times out, is an error the model reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import CONNECTION_CLOSED

from ..core.exceptions import ToolError
from ..harness import PromptInjectionPolicy
from ..runtime.loop import to_json_text
from ..runtime.tools import Tool, ToolContext
from .config import ServerConfig
from .connections import Connection, MCPServerUnavailable, connections

logger = logging.getLogger("agentic_django.mcp")


class MCPTool:
    """One tool of an MCP server, called through the pooled connection to it."""

    def __init__(
        self,
        config: ServerConfig,
        remote: types.Tool | None,
        *,
        name: str,
        requires_approval: bool,
        policy: PromptInjectionPolicy | None,
        unavailable: str = "",
    ) -> None:
        self.config = config
        self.remote_name = remote.name if remote is not None else name
        self._name = name
        self._description = (remote.description or "") if remote is not None else unavailable
        self._schema = dict(remote.input_schema) if remote is not None else {"type": "object"}
        self._requires_approval = requires_approval
        self._policy = policy
        #: Why the server could not be listed; calls report it instead of running.
        self.unavailable = unavailable

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @property
    def requires_approval(self) -> bool:
        return self._requires_approval

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"mcp", f"mcp:{self.config.alias}"})

    @property
    def definition(self) -> dict[str, Any]:
        return {"name": self._name, "description": self._description, "parameters": self._schema}

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext | None = None) -> Any:
        """Call the remote tool; :class:`ToolError` for anything the model should read."""
        if self.unavailable:
            # The server was down when the loop started: try again now, it may be back.
            try:
                await connections.get(self.config.alias)
            except MCPServerUnavailable as exc:
                raise ToolError(str(exc), tool=self._name) from exc
        connection = await self._connection()
        try:
            result = await asyncio.wait_for(
                _client(connection).call_tool(self.remote_name, dict(arguments)),
                self.config.timeout_seconds,
            )
        except TimeoutError:
            # The server may be stuck: the next call gets a fresh connection.
            await connections.discard(connection)
            raise ToolError(
                f"MCP tool {self._name!r} did not answer within "
                f"{self.config.timeout_seconds:g} seconds.",
                tool=self._name,
            ) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                # The server went away (its process exited, its endpoint closed the
                # stream): the next call starts it again on a new connection.
                await connections.discard(connection)
            raise ToolError(
                f"MCP tool {self._name!r} failed: {exc.message}", tool=self._name
            ) from exc
        except Exception as exc:
            await connections.discard(connection)
            raise ToolError(
                f"MCP server {self.config.alias!r} stopped answering: {type(exc).__name__}",
                tool=self._name,
            ) from exc
        return self._checked(result)

    async def _connection(self) -> Connection:
        try:
            return await connections.get(self.config.alias)
        except MCPServerUnavailable as exc:
            raise ToolError(str(exc), tool=self._name) from exc

    def _checked(self, result: types.CallToolResult) -> Any:
        """The result as data for the model: bounded, and withheld if it carries an injection."""
        if result.structured_content is not None:
            value: Any = result.structured_content
            text = to_json_text(value)
        else:
            text = "\n".join(_content_text(block) for block in result.content)
            value = text
        if self._policy is not None:
            found = self._policy.detect(text)
            if found:
                logger.warning(
                    "Withheld a result of MCP tool %r (%s): possible prompt injection (%s)",
                    self._name,
                    self.config.alias,
                    ", ".join(found),
                )
                raise ToolError(
                    f"The result of MCP tool {self._name!r} was withheld: it looks like a "
                    f"prompt injection ({', '.join(found)}).",
                    tool=self._name,
                )
        limit = self.config.max_result_chars
        if len(text) > limit:
            value = text[:limit] + f"… [truncated, {len(text) - limit} more characters]"
        if result.is_error:
            raise ToolError(f"MCP tool {self._name!r} failed: {_short(text)}", tool=self._name)
        return value

    def __repr__(self) -> str:
        return f"<MCPTool {self.config.alias}:{self.remote_name}>"


class MCPToolset:
    """The tools of one MCP server, listed when a loop starts (a ``ToolSource``)."""

    def __init__(
        self,
        alias: str,
        *,
        only: Iterable[str] | None = None,
        requires_approval: bool | Iterable[str] = False,
        prefix: str = "",
    ) -> None:
        self.alias = alias
        self.only = tuple(only) if only is not None else None
        self.requires_approval = (
            requires_approval
            if isinstance(requires_approval, bool)
            else frozenset(requires_approval)
        )
        self.prefix = prefix

    @property
    def source_name(self) -> str:
        return f"MCP server {self.alias!r}"

    def _needs_approval(self, name: str) -> bool:
        if isinstance(self.requires_approval, bool):
            return self.requires_approval
        return name in self.requires_approval

    async def load_tools(self) -> list[Tool]:
        config = ServerConfig.from_settings(self.alias)
        policy = _injection_policy(config.injection_policy)
        connection: Connection | None = None
        try:
            connection = await connections.get(self.alias)
            listed = await asyncio.wait_for(
                _client(connection).list_tools(), config.timeout_seconds
            )
        except Exception as exc:
            reason = (
                str(exc)
                if isinstance(exc, MCPServerUnavailable)
                else f"MCP server {self.alias!r} did not list its tools: {type(exc).__name__}"
            )
            logger.warning("%s", reason)
            if connection is not None:
                await connections.discard(connection)
            # Named tools stay callable, each answering why it cannot run.
            return [
                MCPTool(
                    config,
                    None,
                    name=self.prefix + name,
                    requires_approval=self._needs_approval(name),
                    policy=policy,
                    unavailable=reason,
                )
                for name in self.only or ()
            ]
        tools: list[Tool] = []
        for remote in listed.tools:
            if self.only is not None and remote.name not in self.only:
                continue
            if policy is not None and policy.detect(f"{remote.name}\n{remote.description or ''}"):
                logger.warning(
                    "MCP tool %r of %r not offered: its description looks like a prompt injection",
                    remote.name,
                    self.alias,
                )
                continue
            tools.append(
                MCPTool(
                    config,
                    remote,
                    name=self.prefix + remote.name,
                    requires_approval=self._needs_approval(remote.name),
                    policy=policy,
                )
            )
        return tools

    def __repr__(self) -> str:
        return f"<MCPToolset {self.alias}>"


def mcp_tools(
    alias: str,
    *,
    only: Iterable[str] | None = None,
    requires_approval: bool | Iterable[str] = False,
    prefix: str = "",
) -> MCPToolset:
    """The tools of the MCP server ``alias`` of ``MCP_SERVERS``, for an endpoint's ``tools=``.

    ``only`` keeps the named tools; ``requires_approval`` (True, or tool names) makes
    those calls wait for a person; ``prefix`` renames them to avoid clashes.
    """
    return MCPToolset(alias, only=only, requires_approval=requires_approval, prefix=prefix)


def _client(connection: Connection) -> Any:
    client = connection.client
    if client is None:
        raise MCPServerUnavailable(f"MCP server {connection.config.alias!r} is not connected.")
    return client


def _injection_policy(setting: Any) -> PromptInjectionPolicy | None:
    if setting is False or setting is None:
        return None
    if isinstance(setting, PromptInjectionPolicy):
        return setting
    if isinstance(setting, dict):
        return PromptInjectionPolicy(**setting)
    return PromptInjectionPolicy()


def _content_text(block: Any) -> str:
    text = getattr(block, "text", None)
    if isinstance(text, str):
        return text
    return f"[{getattr(block, 'type', 'content')} content omitted]"


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
