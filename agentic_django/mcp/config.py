"""The MCP servers agents may use: ``AGENTIC_DJANGO["MCP_SERVERS"]``, validated.

Each alias names either a command started as a subprocess and spoken to over
stdio (``COMMAND``, with ``ENV`` and ``CWD``), or a Streamable HTTP endpoint
(``URL``, with ``HEADERS``); both take ``TIMEOUT_SECONDS`` (per call),
``CONNECT_TIMEOUT_SECONDS``, ``MAX_RESULT_CHARS`` and ``INJECTION_POLICY`` (True,
False, the options of a ``PromptInjectionPolicy`` or one). No SDK import here,
so the system checks can read it without the ``mcp`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..conf import SETTINGS_NAME, agentic_settings

SERVER_KEYS = frozenset(
    {
        "COMMAND",
        "ENV",
        "CWD",
        "URL",
        "HEADERS",
        "TIMEOUT_SECONDS",
        "CONNECT_TIMEOUT_SECONDS",
        "MAX_RESULT_CHARS",
        "INJECTION_POLICY",
    }
)


@dataclass(frozen=True)
class ServerConfig:
    """One entry of ``MCP_SERVERS``, validated."""

    alias: str
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0
    max_result_chars: int = 20_000
    injection_policy: Any = True

    @classmethod
    def from_settings(cls, alias: str) -> ServerConfig:
        servers = agentic_settings.MCP_SERVERS
        where = f"{SETTINGS_NAME}['MCP_SERVERS'][{alias!r}]"
        if alias not in servers:
            raise ImproperlyConfigured(
                f"No MCP server is configured under the alias {alias!r}; add it to "
                f"{SETTINGS_NAME}['MCP_SERVERS']."
            )
        entry = servers[alias]
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{where} must be a dict.")
        unknown = sorted(set(entry) - SERVER_KEYS)
        if unknown:
            raise ImproperlyConfigured(f"{where}: unknown keys {unknown}.")
        command = entry.get("COMMAND") or ()
        if isinstance(command, str):
            command = (command,)
        url = entry.get("URL") or ""
        if bool(command) == bool(url):
            raise ImproperlyConfigured(f"{where} needs either COMMAND (a list) or URL, not both.")
        return cls(
            alias=alias,
            command=tuple(str(part) for part in command),
            env=dict(entry.get("ENV") or {}),
            cwd=entry.get("CWD"),
            url=str(url),
            headers=dict(entry.get("HEADERS") or {}),
            timeout_seconds=float(entry.get("TIMEOUT_SECONDS", 30.0)),
            connect_timeout_seconds=float(entry.get("CONNECT_TIMEOUT_SECONDS", 10.0)),
            max_result_chars=int(entry.get("MAX_RESULT_CHARS", 20_000)),
            injection_policy=entry.get("INJECTION_POLICY", True),
        )
