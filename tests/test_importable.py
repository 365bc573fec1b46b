"""The package imports without django.setup(); the pure layers never import Django."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agentic_django"
PURE_LAYERS = ("core", "llm", "harness", "runtime", "streaming")


def test_package_imports_without_django_setup():
    code = (
        "import agentic_django, sys\n"
        "assert 'agentic_django.models' not in sys.modules\n"
        "from agentic_django import agents, Intent, AgentContext, AgentTasks, IntentScope\n"
        "assert set(agentic_django.__all__) <= set(dir(agentic_django))\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=PACKAGE.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_pure_layers_never_import_django(layer):
    directory = PACKAGE / layer
    if not directory.exists():
        pytest.skip(f"{layer} does not exist yet")
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            name
            for name in _imported_modules(path)
            if name.split(".")[0] in {"django", "rest_framework", "adrf", "channels", "celery"}
        )
        for path in directory.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
