"""DataPolicy: which tables and columns SQL in code or tool arguments may touch."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from agentic_django.harness.policies.base import Policy, PolicyResult, iter_strings

_SQL_START = re.compile(
    r"^\s*\(?\s*(select|insert|update|delete|create|drop|alter|truncate|with|replace|merge|"
    r"grant|revoke|rename|attach|pragma)\b",
    re.IGNORECASE,
)
_DDL = {"create", "drop", "alter", "truncate", "rename", "grant", "revoke", "attach", "pragma"}
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LITERALS = re.compile(r"'(?:[^']|'')*'")
_IDENT = r"([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)"
_READ_TABLES = re.compile(rf"\b(?:from|join)\s+{_IDENT}", re.IGNORECASE)
_WRITE_TABLES = re.compile(
    rf"\b(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|merge\s+into|update|delete\s+from)\s+"
    rf"{_IDENT}",
    re.IGNORECASE,
)
_STAR = re.compile(r"\bselect\s+(?:distinct\s+)?(?:\w+\.)?\*", re.IGNORECASE)


def looks_like_sql(text: str) -> bool:
    """True when ``text`` starts like a SQL statement."""
    return bool(_SQL_START.match(text))


def split_statements(sql: str) -> list[str]:
    """Statements of ``sql`` with comments and string literals removed, empties dropped."""
    cleaned = _LITERALS.sub("''", _COMMENTS.sub(" ", sql)).replace('"', "")
    return [part.strip() for part in cleaned.split(";") if part.strip()]


class DataPolicy(Policy):
    """Checks SQL found in generated code (string literals) and in tool arguments.

    ``readable_tables=None`` allows reading any table; ``writable_tables`` is
    empty by default, so writes are refused. ``restricted_columns`` holds bare
    column names or ``table.column``; ``SELECT *`` over a table with a
    restricted column is refused too.
    """

    readable_tables: list[str] | None = None
    writable_tables: list[str] = Field(default_factory=list)
    restricted_columns: list[str] = Field(default_factory=list)
    deny_ddl: bool = True
    allow_multiple_statements: bool = False

    def evaluate(self, *, code: str, **context: Any) -> PolicyResult:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return self.result()
        return self.result(violations=self.check_sql(_string_literals(tree)))

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> PolicyResult:
        return self.result(violations=self.check_sql(iter_strings(arguments)))

    def check_sql(self, texts: Iterable[str]) -> list[str]:
        """Violations for every SQL-looking text among ``texts``."""
        violations: list[str] = []
        for text in texts:
            if not looks_like_sql(text):
                continue
            statements = split_statements(text)
            if len(statements) > 1 and not self.allow_multiple_statements:
                violations.append(f"{len(statements)} stacked SQL statements in one string")
            for statement in statements:
                violations.extend(self._check_statement(statement))
        return list(dict.fromkeys(violations))

    def _check_statement(self, statement: str) -> list[str]:
        violations: list[str] = []
        keyword = statement.lstrip("( ").split(None, 1)[0].lower()
        if keyword in _DDL and self.deny_ddl:
            violations.append(f"DDL statement {keyword.upper()} is not allowed")
        written = {_bare(t) for t in _WRITE_TABLES.findall(statement)}
        read = {_bare(t) for t in _READ_TABLES.findall(statement)} - written
        allowed_writes = {t.lower() for t in self.writable_tables}
        for table in sorted(written):
            if table not in allowed_writes:
                violations.append(f"writing table {table!r} is not allowed")
        if self.readable_tables is not None:
            allowed_reads = {t.lower() for t in self.readable_tables} | allowed_writes
            for table in sorted(read):
                if table not in allowed_reads:
                    violations.append(f"reading table {table!r} is not allowed")
        violations.extend(self._restricted_columns(statement, read | written))
        return violations

    def _restricted_columns(self, statement: str, tables: set[str]) -> list[str]:
        violations: list[str] = []
        lowered = statement.lower()
        star = bool(_STAR.search(statement))
        for entry in self.restricted_columns:
            table, _, column = entry.lower().rpartition(".")
            if table and table not in tables:
                continue
            if re.search(rf"\b{re.escape(column)}\b", lowered):
                violations.append(f"column {entry!r} is restricted")
            elif star and (table or tables):
                violations.append(f"SELECT * would read restricted column {entry!r}")
        return violations


def _bare(table: str) -> str:
    """``schema.Table`` → ``table``."""
    return table.rsplit(".", 1)[-1].lower()


def _string_literals(tree: ast.AST) -> list[str]:
    texts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            parts = [
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "x"
                for v in node.values
            ]
            texts.append("".join(parts))
    return texts
