"""RuntimePolicy: bounds on the size and shape of generated code."""

from __future__ import annotations

import ast
from typing import Any

from pydantic import PositiveInt

from agentic_django.harness.policies.base import Policy, PolicyResult

_BLOCKS = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Match,
    ast.TryStar,
)
_BRANCHES = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.IfExp,
    ast.ExceptHandler,
    ast.comprehension,
    ast.match_case,
    ast.Assert,
)


class RuntimePolicy(Policy):
    """Refuses code that is too long, too large, too deeply nested or too branchy."""

    max_lines: PositiveInt = 500
    max_ast_nodes: PositiveInt = 5000
    max_nesting_depth: PositiveInt = 8
    max_complexity: PositiveInt = 60

    def evaluate(self, *, code: str, **context: Any) -> PolicyResult:
        violations: list[str] = []
        lines = len(code.splitlines())
        if lines > self.max_lines:
            violations.append(f"code has {lines} lines, more than {self.max_lines}")
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError) as exc:
            return self.result(violations=[*violations, f"code does not parse: {exc}"])
        metrics = measure(tree)
        if metrics["nodes"] > self.max_ast_nodes:
            violations.append(f"{metrics['nodes']} AST nodes, more than {self.max_ast_nodes}")
        if metrics["depth"] > self.max_nesting_depth:
            violations.append(
                f"nesting depth {metrics['depth']}, more than {self.max_nesting_depth}"
            )
        if metrics["complexity"] > self.max_complexity:
            violations.append(
                f"cyclomatic complexity {metrics['complexity']}, more than {self.max_complexity}"
            )
        return self.result(violations=violations)


def measure(tree: ast.AST) -> dict[str, int]:
    """Node count, block nesting depth and cyclomatic complexity of ``tree``."""
    nodes = 0
    complexity = 1
    for node in ast.walk(tree):
        nodes += 1
        if isinstance(node, _BRANCHES):
            complexity += 1 + (len(node.ifs) if isinstance(node, ast.comprehension) else 0)
        elif isinstance(node, ast.BoolOp):
            complexity += len(node.values) - 1
    return {"nodes": nodes, "depth": _depth(tree), "complexity": complexity}


def _depth(node: ast.AST, level: int = 0) -> int:
    deepest = level
    for child in ast.iter_child_nodes(node):
        inner = level + 1 if isinstance(child, _BLOCKS) else level
        deepest = max(deepest, _depth(child, inner))
    return deepest
