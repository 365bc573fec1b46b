"""CodePolicy: which modules and dynamic features generated code may use."""

from __future__ import annotations

import ast
from typing import Any

from pydantic import Field, PositiveInt

from agentic_django.harness.policies.base import Policy, PolicyResult
from agentic_django.harness.static_analysis import (
    DEFAULT_ALLOWED_MODULES,
    imported_modules,
    top_level_module,
)

DEFAULT_DENIED_MODULES: tuple[str, ...] = (
    "os",
    "sys",
    "subprocess",
    "shutil",
    "pathlib",
    "importlib",
    "builtins",
    "ctypes",
    "pickle",
    "marshal",
    "gc",
    "inspect",
    "signal",
    "multiprocessing",
    "threading",
    "code",
    "codeop",
)

DEFAULT_NETWORK_MODULES: tuple[str, ...] = (
    "socket",
    "ssl",
    "http",
    "urllib",
    "ftplib",
    "smtplib",
    "telnetlib",
    "requests",
    "httpx",
    "aiohttp",
    "asyncio",
    "xmlrpc",
)


class CodePolicy(Policy):
    """Restricts imports, code length and dynamic execution in generated code.

    ``allowed_modules=None`` allows any module that is neither denied nor a
    network module (when ``allow_network`` is false).
    """

    allowed_modules: list[str] | None = Field(default_factory=lambda: list(DEFAULT_ALLOWED_MODULES))
    denied_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_DENIED_MODULES))
    network_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_NETWORK_MODULES))
    max_code_lines: PositiveInt = 500
    allow_eval_exec: bool = False
    allow_dynamic_imports: bool = False
    allow_network: bool = False

    def evaluate(self, *, code: str, **context: Any) -> PolicyResult:
        violations: list[str] = []
        lines = len(code.splitlines())
        if lines > self.max_code_lines:
            violations.append(f"code has {lines} lines, more than {self.max_code_lines}")
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError) as exc:
            return self.result(violations=[*violations, f"code does not parse: {exc}"])
        for module, statement in imported_modules(tree):
            problem = self.module_problem(module)
            if problem:
                violations.append(f"line {statement.lineno}: {problem}")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _called_name(node.func)
            if name in {"eval", "exec", "compile"} and not self.allow_eval_exec:
                violations.append(f"line {node.lineno}: {name}() is not allowed")
            if name in {"__import__", "import_module"} and not self.allow_dynamic_imports:
                violations.append(f"line {node.lineno}: dynamic import via {name}()")
        return self.result(violations=violations)

    def module_problem(self, module: str) -> str | None:
        """Why importing ``module`` is refused, or None when it is allowed."""
        if module.startswith("."):
            return f"relative import {module!r} is not allowed"
        top = top_level_module(module)
        if top in self.denied_modules or module in self.denied_modules:
            return f"module {module!r} is denied"
        if not self.allow_network and top in self.network_modules:
            return f"network module {module!r} is not allowed"
        if self.allowed_modules is not None and top not in self.allowed_modules:
            return f"module {module!r} is not in the allowed modules"
        return None


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None
