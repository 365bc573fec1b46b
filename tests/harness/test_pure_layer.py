from __future__ import annotations

import ast
from pathlib import Path

import agentic_django.harness

HARNESS = Path(agentic_django.harness.__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_harness_module_imports_django() -> None:
    offenders = [
        p.name for p in HARNESS.rglob("*.py") if {"django", "rest_framework"} & _imported(p)
    ]
    assert offenders == []


def test_the_sandbox_runner_needs_only_the_standard_library_and_libseccomp() -> None:
    runner = HARNESS / "sandbox" / "runner.py"
    # pyseccomp is optional there: without it the runner reports seccomp as missing.
    stdlib = set(__import__("sys").stdlib_module_names)
    assert _imported(runner) - {"__future__", "pyseccomp"} <= stdlib
