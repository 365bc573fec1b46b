"""Every Python snippet in the docs runs, or at least parses and imports what it names.

Snippets are the newcomer's first contact: a name that moved or a missing import
shows here before a reader meets it. Each ```python block of README.md and docs/
is parsed, and each ``import`` / ``from … import`` of a library module (ours,
Django, DRF, pydantic, Celery…) is imported and each imported name looked up.
Then the snippet is run, with an empty agent registry (restored afterwards) and a
test database, unless the line before its fence is ``<!-- docs-test: needs a
project -->``: a snippet that uses the reader's models, settings or a running
event loop is only parsed and import-checked.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from agentic_django.testing import isolated_agents

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
NEEDS_PROJECT = "<!-- docs-test: needs a project -->\n"
#: Modules of the reader's project in the snippets: parsed, never imported.
PROJECT_MODULES = ("shop", "yourproject", "myapp", "orders", "example_project", "app")


def snippets() -> list[tuple[str, str, bool]]:
    """``(page:line, code, runnable)`` for every ```python block."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 2
            runnable = not text[: match.start()].endswith(NEEDS_PROJECT)
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1), runnable))
    return found


SNIPPETS = snippets()


def test_the_docs_have_python_snippets():
    assert len(SNIPPETS) > 30


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    imports: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.append((node.module, [alias.name for alias in node.names]))
    return imports


@pytest.mark.parametrize(
    ("where", "code", "runnable"), SNIPPETS, ids=[where for where, _, _ in SNIPPETS]
)
@pytest.mark.django_db
def test_a_snippet_runs_or_at_least_imports_what_it_names(where, code, runnable):
    tree = ast.parse(code, filename=where)
    for module_name, names in _imports(tree):
        if module_name.split(".")[0] in PROJECT_MODULES:
            continue  # needs the reader's project
        module = importlib.import_module(module_name)
        for name in names:
            if name == "*":
                continue
            assert hasattr(module, name) or importlib.util.find_spec(f"{module_name}.{name}"), (
                f"{where}: {module_name} has no {name}"
            )
    if not runnable:
        return
    with isolated_agents() as site:
        for name in list(site.endpoints):
            site.unregister(name)  # the snippet's names, not the test project's
        exec(compile(tree, where, "exec"), {"__name__": "docs_snippet"})


def test_most_snippets_run():
    assert sum(runnable for _, _, runnable in SNIPPETS) >= 0.6 * len(SNIPPETS)
