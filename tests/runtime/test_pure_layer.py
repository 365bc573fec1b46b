from __future__ import annotations

import ast
from pathlib import Path

import agentic_django.runtime

RUNTIME = Path(agentic_django.runtime.__file__).resolve().parent


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_runtime_module_imports_django() -> None:
    offenders = [
        p.name
        for p in RUNTIME.rglob("*.py")
        if {"django", "rest_framework"} & _top_level_imports(p)
    ]
    assert offenders == []
