"""Checks of the MCP settings: the SDK is installed when MCP is used, servers are well formed."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from ..conf import SETTINGS_NAME, agentic_settings
from ..mcp import sdk_available
from ..mcp.config import ServerConfig
from ..registry import agents
from .ids import E012_MCP_SDK_MISSING, E013_BAD_MCP_SERVER


def _used_aliases() -> set[tuple[str, str]]:
    """``(endpoint, alias)`` for every MCP server an endpoint's tools name."""
    used = set()
    for endpoint in agents:
        for source in endpoint.tools.sources if endpoint.tools is not None else ():
            alias = getattr(source, "alias", None)
            if isinstance(alias, str):
                used.add((endpoint.name, alias))
    return used


@checks.register(checks.Tags.compatibility)
def check_mcp(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    servers = agentic_settings.MCP_SERVERS
    if not isinstance(servers, dict):
        return [
            checks.Error(
                f"{SETTINGS_NAME}['MCP_SERVERS'] must be a dict of aliases.",
                id=E013_BAD_MCP_SERVER,
            )
        ]
    serving = bool(agentic_settings.MCP) or any(endpoint.mcp for endpoint in agents)
    if (serving or servers) and not sdk_available():
        errors.append(
            checks.Error(
                "MCP is configured but the mcp SDK is not installed.",
                hint='pip install "django-agentic-endpoints[mcp]"',
                id=E012_MCP_SDK_MISSING,
            )
        )
    for alias in sorted(servers):
        try:
            ServerConfig.from_settings(alias)
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=E013_BAD_MCP_SERVER))
    for endpoint, alias in sorted(_used_aliases()):
        if alias not in servers:
            errors.append(
                checks.Error(
                    f"Agent endpoint {endpoint!r} uses the MCP server {alias!r}, which is not "
                    f"in {SETTINGS_NAME}['MCP_SERVERS'].",
                    id=E013_BAD_MCP_SERVER,
                )
            )
    return errors
