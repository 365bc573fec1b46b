"""The example project with ``prometheus_client`` and ``opentelemetry`` unavailable."""

from __future__ import annotations

import sys
from typing import Any

BLOCKED = ("prometheus_client", "opentelemetry")


class _Missing:
    """A meta path finder answering "not installed" for the observability extras."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, _Missing())

from example_project.asgi import application  # noqa: E402

__all__ = ["application"]
