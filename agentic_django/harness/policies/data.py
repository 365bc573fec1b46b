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
_BOUNDED = re.compile(r"\b(limit|top|fetch\s+(first|next))\b", re.IGNORECASE)

#: Words of a tool's name (``drop_users``, ``deleteOrder``) that say what it does.
_TOOL_DDL_VERBS = _DDL - {"pragma", "attach"}
_TOOL_WRITE_VERBS = frozenset(
    {"insert", "update", "delete", "write", "remove", "upsert", "modify", "set", "save", "add"}
)
#: Structured arguments of a tool call that name tables or columns.
_TABLE_ARGUMENTS = frozenset({"table", "table_name", "tables", "table_names", "from_table"})
_COLUMN_ARGUMENTS = frozenset({"column", "column_name", "columns", "column_names", "fields"})


def looks_like_sql(text: str) -> bool:
    """True when ``text``, comments removed, starts like a SQL statement.

    A leading ``/* … */`` or ``-- …`` comment must not hide a statement from the
    policy, so comments are stripped before deciding.
    """
    return bool(_SQL_START.match(_COMMENTS.sub(" ", text)))


def name_words(name: str) -> list[str]:
    """``dropUsers`` / ``drop-users`` / ``DROP_USERS`` → ``["drop", "users"]``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]


def split_statements(sql: str) -> list[str]:
    """Statements of ``sql`` with comments and string literals removed, empties dropped."""
    cleaned = _LITERALS.sub("''", _COMMENTS.sub(" ", sql)).replace('"', "")
    return [part.strip() for part in cleaned.split(";") if part.strip()]


class DataPolicy(Policy):
    """Checks SQL found in generated code (string literals) and in tool arguments.

    ``readable_tables=None`` allows reading any table; ``writable_tables`` is
    empty by default, so writes are refused. ``restricted_columns`` holds bare
    column names or ``table.column``; ``SELECT *`` over a table with a
    restricted column is refused too. A ``SELECT`` without ``LIMIT`` is allowed
    with an advisory warning (``warn_unbounded_select``).

    On tool calls the tool itself is judged as well as SQL in its arguments: its
    name (``drop_users`` is DDL, ``delete_order`` a write) and its structured
    arguments naming tables (``table=``, ``tables=``) or columns (``columns=``).
    """

    readable_tables: list[str] | None = None
    writable_tables: list[str] = Field(default_factory=list)
    restricted_columns: list[str] = Field(default_factory=list)
    deny_ddl: bool = True
    allow_multiple_statements: bool = False
    warn_unbounded_select: bool = True

    def evaluate(self, *, code: str, **context: Any) -> PolicyResult:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return self.result()
        texts = _string_literals(tree)
        return self.result(violations=self.check_sql(texts), warnings=self.advise_sql(texts))

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> PolicyResult:
        texts = list(iter_strings(arguments))
        violations = self.check_tool(tool_name, arguments) + self.check_sql(texts)
        return self.result(
            violations=list(dict.fromkeys(violations)), warnings=self.advise_sql(texts)
        )

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

    def advise_sql(self, texts: Iterable[str]) -> list[str]:
        """Advisory warnings (never denials): ``SELECT`` statements without a ``LIMIT``."""
        if not self.warn_unbounded_select:
            return []
        warnings: list[str] = []
        for text in texts:
            if not looks_like_sql(text):
                continue
            for statement in split_statements(text):
                keyword = statement.lstrip("( ").split(None, 1)[0].lower()
                if (
                    keyword in ("select", "with")
                    and _READ_TABLES.search(statement)
                    and not _BOUNDED.search(statement)
                ):
                    warnings.append("SELECT without LIMIT may read an unbounded number of rows")
        return list(dict.fromkeys(warnings))

    def check_tool(self, tool_name: str, arguments: Mapping[str, Any]) -> list[str]:
        """Violations from what a tool call says about itself: its name and named tables."""
        violations: list[str] = []
        words = name_words(tool_name)
        ddl = next((word for word in words if word in _TOOL_DDL_VERBS), None)
        if ddl is not None and self.deny_ddl:
            violations.append(f"tool {tool_name!r} performs DDL ({ddl.upper()}), not allowed")
        writes = ddl is not None or any(word in _TOOL_WRITE_VERBS for word in words)
        tables = _named(arguments, _TABLE_ARGUMENTS)
        allowed_writes = {t.lower() for t in self.writable_tables}
        allowed_reads = (
            None
            if self.readable_tables is None
            else {t.lower() for t in self.readable_tables} | allowed_writes
        )
        for table in tables:
            if writes and table not in allowed_writes:
                violations.append(f"writing table {table!r} is not allowed")
            elif not writes and allowed_reads is not None and table not in allowed_reads:
                violations.append(f"reading table {table!r} is not allowed")
        for column in _named(arguments, _COLUMN_ARGUMENTS):
            for entry in self.restricted_columns:
                table, _, restricted = entry.lower().rpartition(".")
                if column == restricted and (not table or not tables or table in tables):
                    violations.append(f"column {entry!r} is restricted")
        return violations

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


def _named(arguments: Mapping[str, Any], keys: frozenset[str]) -> list[str]:
    """Lower-cased bare names held by the arguments called one of ``keys``."""
    names: list[str] = []
    for key, value in arguments.items():
        if str(key).lower() not in keys:
            continue
        values = [value] if isinstance(value, str) else value
        if isinstance(values, list | tuple):
            names.extend(_bare(v) for v in values if isinstance(v, str) and v.strip())
    return list(dict.fromkeys(names))


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
