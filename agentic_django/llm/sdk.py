"""Plumbing shared by the provider backends: lazy SDK imports and API keys.

Provider SDKs are optional extras, so they are imported only when a backend is
built, with an error that names the extra to install.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from agentic_django.core.exceptions import LLMConfigurationError


def import_sdk(module: str, *, extra: str, backend: str) -> ModuleType:
    """Import a provider SDK, or say which pip extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LLMConfigurationError(
            f"{backend} needs the {module!r} package: "
            f'pip install "django-agentic-endpoints[{extra}]"'
        ) from exc


def resolve_api_key(explicit: str | None, env_vars: tuple[str, ...], *, backend: str) -> str:
    """The API key passed in, else the first of ``env_vars`` that is set."""
    if explicit:
        return explicit
    for name in env_vars:
        value = os.environ.get(name)
        if value:
            return value
    raise LLMConfigurationError(
        f"{backend} has no API key: pass api_key=... in the backend OPTIONS or set "
        + " or ".join(env_vars)
    )
