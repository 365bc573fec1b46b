"""Blocking AST checks on generated code, run before the sandbox.

Anything found here refuses the code: imports outside an allowlist, dunder and
private attribute access, the introspection and dynamic-execution builtins, and
syntax errors. It is the first of two walls; the sandbox contains the code at run
time on its own (see ``docs/security.md``).
"""

from __future__ import annotations

import ast
import importlib
import re
import string
import types
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from agentic_django.core.exceptions import PolicyViolation

DEFAULT_ALLOWED_MODULES: tuple[str, ...] = (
    "json",
    "math",
    "statistics",
    "datetime",
    "decimal",
    "fractions",
    "re",
    "collections",
    "itertools",
    "functools",
    "operator",
    "string",
    "textwrap",
)

#: Builtins that give code reflection, dynamic execution, files or interaction.
FORBIDDEN_NAMES: frozenset[str] = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "help",
        "exit",
        "quit",
        "memoryview",
    }
)

#: Attributes that reach frames, code objects and the class hierarchy.
FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "co_names",
        "f_trace",
        "f_lasti",
        "gi_yieldfrom",
        "cr_await",
        "cr_origin",
        "ag_await",
        "tb_lasti",
        "cell_contents",
        "mro",
        # string.Formatter's field lookups return objects, not strings
        "Formatter",
        "get_field",
        "vformat",
        "format_map",
    }
)

#: Attribute-by-name helpers: allowed only when called at once with literal, public names.
NAME_GETTERS: frozenset[str] = frozenset({"attrgetter", "methodcaller", "itemgetter"})
#: Methods a ``methodcaller`` may not name: they format with run-time field names.
_FORMATTING_METHODS = frozenset({"format", "format_map"})
_FORMATTER = string.Formatter()

_DUNDER = re.compile(r"__\w*__")
_FORMAT_ATTRIBUTE = re.compile(r"\{[^{}]*\.\s*_")


class Violation(BaseModel):
    """One finding, with the position in the code that caused it."""

    model_config = ConfigDict(extra="forbid")

    line: int
    col: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message} [{self.rule}]"


class StaticAnalysisResult(BaseModel):
    """Outcome of :func:`analyze`: ``ok`` is false as soon as there is one violation."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    violations: list[Violation] = Field(default_factory=list)

    def raise_if_blocked(self) -> None:
        """Raise :class:`PolicyViolation` listing every violation, if there is one."""
        if not self.ok:
            messages = [str(v) for v in self.violations]
            raise PolicyViolation(
                f"Static analysis refused the code: {'; '.join(messages)}",
                policy="static_analysis",
                violations=messages,
            )


def top_level_module(name: str) -> str:
    """``"a.b.c"`` → ``"a"``."""
    return name.split(".", 1)[0]


def imported_modules(tree: ast.AST) -> Iterator[tuple[str, ast.stmt]]:
    """Yield ``(module name, node)`` for every import statement in ``tree``.

    Relative imports are yielded with leading dots so callers can refuse them.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or ""), node


def analyze(
    code: str, allowed_modules: Iterable[str] = DEFAULT_ALLOWED_MODULES
) -> StaticAnalysisResult:
    """Check ``code`` and return every violation found (with line numbers)."""
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as exc:
        violation = Violation(
            line=exc.lineno or 0,
            col=exc.offset or 0,
            rule="syntax",
            message=f"syntax error: {exc.msg}",
        )
        return StaticAnalysisResult(ok=False, violations=[violation])
    except ValueError as exc:  # e.g. null bytes in the source
        violation = Violation(line=0, col=0, rule="syntax", message=f"unparsable code: {exc}")
        return StaticAnalysisResult(ok=False, violations=[violation])
    checker = _Checker(frozenset(allowed_modules))
    checker.visit(tree)
    violations = sorted(checker.violations, key=lambda v: (v.line, v.col, v.rule))
    return StaticAnalysisResult(ok=not violations, violations=violations)


class _Checker(ast.NodeVisitor):
    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed
        self.violations: list[Violation] = []
        # Local names bound to allowed modules, to resolve ``json.codecs`` and the like.
        self.module_aliases: dict[str, str] = {}
        # ``func`` nodes of getter calls already checked for literal names.
        self.checked_getters: set[int] = set()

    def add(self, node: ast.AST, rule: str, message: str) -> None:
        line = getattr(node, "lineno", 0)
        col = getattr(node, "col_offset", 0)
        self.violations.append(Violation(line=line, col=col, rule=rule, message=message))

    def module_allowed(self, name: str) -> bool:
        return not name.startswith(".") and top_level_module(name) in self.allowed

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_identifier(node, alias.asname or "")
            if not self.module_allowed(alias.name):
                self.add(node, "import", f"import of {alias.name!r} is not allowed")
            elif alias.asname:
                self.module_aliases[alias.asname] = alias.name
            else:
                top = top_level_module(alias.name)
                self.module_aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        if not self.module_allowed(module):
            self.add(node, "import", f"import from {module!r} is not allowed")
            return
        for alias in node.names:
            self.check_identifier(node, alias.name)
            self.check_identifier(node, alias.asname or "")
            if alias.name in FORBIDDEN_NAMES or alias.name in FORBIDDEN_ATTRIBUTES:
                self.add(node, "forbidden_name", f"importing {alias.name!r} is not allowed")
            if alias.name in NAME_GETTERS and alias.asname not in (None, alias.name):
                self.add(node, "name_getter", f"{alias.name} may not be renamed")
            value = _resolve(module, alias.name)
            if isinstance(value, types.ModuleType) and not self.module_allowed(value.__name__):
                self.add(node, "import", f"{module}.{alias.name} is module {value.__name__!r}")

    def visit_Name(self, node: ast.Name) -> None:
        self.check_identifier(node, node.id)
        if node.id in FORBIDDEN_NAMES or node.id == "Formatter":
            self.add(node, "forbidden_name", f"use of {node.id!r} is not allowed")
        self.check_getter_reference(node, node.id)
        self.generic_visit(node)

    def check_attribute_name(self, node: ast.AST, attr: str) -> None:
        if _DUNDER.fullmatch(attr):
            self.add(node, "dunder", f"access to dunder attribute {attr!r} is not allowed")
        elif attr.startswith("_"):
            self.add(node, "private_attribute", f"access to private attribute {attr!r}")
        if attr in FORBIDDEN_NAMES or attr in FORBIDDEN_ATTRIBUTES:
            self.add(node, "forbidden_name", f"use of attribute {attr!r} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        self.check_attribute_name(node, attr)
        self.check_getter_reference(node, attr)
        path = _dotted(node)
        if path is not None and path[0] in self.module_aliases:
            module = self.module_aliases[path[0]]
            value = _resolve(module, *path[1:])
            if isinstance(value, types.ModuleType) and not self.module_allowed(value.__name__):
                dotted = ".".join(path)
                self.add(node, "module_attribute", f"{dotted} reaches module {value.__name__!r}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            if _DUNDER.search(node.value):
                self.add(node, "dunder", "string naming a dunder attribute is not allowed")
            elif _FORMAT_ATTRIBUTE.search(node.value) or _reaches_forbidden_field(node.value):
                self.add(node, "format_attribute", "format field reaching a private attribute")

    def visit_Call(self, node: ast.Call) -> None:
        name = _called_name(node.func)
        if name in NAME_GETTERS:
            self.checked_getters.add(id(node.func))
            if not _literal_getter_call(name, node):
                self.add(
                    node,
                    "name_getter",
                    f"{name} needs literal, public attribute names (no names built at run time)",
                )
        elif name == "format" and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if isinstance(receiver, ast.Constant) and isinstance(receiver.value, str):
                self.checked_getters.add(id(node.func))
        self.generic_visit(node)

    def check_getter_reference(self, node: ast.AST, name: str) -> None:
        """A getter passed around, aliased or stored could later get a run-time name."""
        if id(node) in self.checked_getters:
            return
        if name in NAME_GETTERS:
            self.add(node, "name_getter", f"{name} may only be called directly")
        elif name == "format" and isinstance(node, ast.Attribute):
            # The format string's fields read attributes; only a literal one is checked.
            self.add(node, "format_call", "str.format only called on a literal format string")

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        # Keyword patterns read attributes by name: ``case object(__class__=c)``.
        for attr in node.kwd_attrs:
            self.check_attribute_name(node, attr)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self.check_identifier(node, node.name or "")
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self.check_identifier(node, node.name or "")

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.check_identifier(node, node.rest or "")
        self.generic_visit(node)

    def visit_TryStar(self, node: ast.AST) -> None:
        self.add(node, "except_star", "except* (exception groups) is not allowed")
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self.check_annotation(node.annotation)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.check_annotation(node.annotation)
        self.generic_visit(node)

    def check_annotation(self, annotation: ast.expr | None) -> None:
        # A string annotation is code that typing.get_type_hints (used by
        # functools.singledispatch) evaluates later, out of this analysis' sight.
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            self.add(annotation, "string_annotation", "string annotations are not allowed")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.check_definition(node, node.name, node.args)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.check_definition(node, node.name, node.args)
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.check_definition(node, "", node.args)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.check_identifier(node, node.name)
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        self.check_identifier(node, node.arg or "")
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self.check_identifier(node, name)

    def check_definition(self, node: ast.AST, name: str, args: ast.arguments) -> None:
        self.check_identifier(node, name)
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [arg for arg in (args.vararg, args.kwarg) if arg is not None]
        for arg in every:
            self.check_identifier(arg, arg.arg)

    def check_identifier(self, node: ast.AST, name: str) -> None:
        if _DUNDER.fullmatch(name):
            self.add(node, "dunder", f"dunder name {name!r} is not allowed")


def _dotted(node: ast.Attribute) -> list[str] | None:
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    parts.append(current.id)
    return parts[::-1]


def _resolve(module: str, *attributes: str) -> object:
    """Look ``module.attr…`` up in this process (allowed modules only), or None."""
    try:
        value: object = importlib.import_module(module)
    except Exception:
        return None
    for attribute in attributes:
        if attribute.startswith("_"):
            return None
        value = getattr(value, attribute, None)
        if value is None:
            return None
    return value


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _literal_getter_call(name: str, node: ast.Call) -> bool:
    """True when a getter call names only literal, public attributes (or literal keys)."""
    if name == "methodcaller":
        if not node.args:
            return False
        first = node.args[0]
        return (
            isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and _public_dotted(first.value)
            and "." not in first.value
            and first.value not in _FORMATTING_METHODS
        )
    if node.keywords or not node.args:
        return False
    for arg in node.args:
        if not isinstance(arg, ast.Constant):
            return False
        if name == "attrgetter" and not (isinstance(arg.value, str) and _public_dotted(arg.value)):
            return False
        if name == "itemgetter" and not isinstance(arg.value, str | int):
            return False
    return True


def _public_dotted(name: str) -> bool:
    parts = name.split(".")
    return all(p.isidentifier() and not p.startswith("_") for p in parts) and not any(
        p in FORBIDDEN_ATTRIBUTES or p in FORBIDDEN_NAMES for p in parts
    )


def _reaches_forbidden_field(text: str) -> bool:
    """Whether a format string's replacement fields name a forbidden attribute."""
    if "{" not in text:
        return False
    try:
        fields = [field for _, field, _, _ in _FORMATTER.parse(text) if field]
    except ValueError:
        return False
    for field in fields:
        parts = re.split(r"[.\[\]]", field)
        if any(p in FORBIDDEN_ATTRIBUTES or p in FORBIDDEN_NAMES for p in parts):
            return True
    return False
