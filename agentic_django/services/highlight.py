"""Python source as HTML with token classes, for showing generated code in admin.

Highlighting happens on the server with the stdlib ``tokenize`` module, so admin
pages need no JavaScript. Every character of the source is HTML-escaped; code
that does not tokenize (generated code may be broken) comes back as escaped
plain text.
"""

from __future__ import annotations

import builtins
import io
import keyword
import token
import tokenize
from collections.abc import Iterator
from html import escape

from django.utils.safestring import SafeString, mark_safe

_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))

#: The CSS class suffix (``tok-…``) of each highlighted token type.
_CLASSES = {
    token.STRING: "string",
    token.NUMBER: "number",
    token.COMMENT: "comment",
}

# Python 3.12 splits f-strings into start, middle and end tokens, with the
# replacement fields tokenized in between; the whole f-string is shown as a string.
_FSTRING_START = getattr(token, "FSTRING_START", None)
_FSTRING_END = getattr(token, "FSTRING_END", None)


def highlight_python(code: str) -> SafeString:
    """``code`` HTML-escaped, with keywords, builtins, strings, numbers and comments in
    ``<span class="tok-…">`` (``tok-kw``, ``tok-builtin``, ``tok-string``, ``tok-number``,
    ``tok-comment``); escaped plain text when it does not tokenize."""
    try:
        pieces = list(_pieces(code))
    except (tokenize.TokenError, SyntaxError, ValueError):
        return mark_safe(escape(code))
    if "".join(text for _kind, text in pieces) != code:
        # Never lose or repeat a character, whatever tokenize reported.
        return mark_safe(escape(code))
    return mark_safe(
        "".join(
            f'<span class="tok-{kind}">{escape(text)}</span>' if kind else escape(text)
            for kind, text in pieces
            if text
        )
    )


def _pieces(code: str) -> Iterator[tuple[str, str]]:
    """``code`` cut into ``(css kind or "", text)`` pieces that join back to ``code``."""
    # ``starts[i]`` is the offset in ``code`` of line ``i + 1`` (tokenize counts from 1);
    # it grows as tokenize reads, which is always ahead of the tokens it reports.
    starts = [0]
    reader = io.StringIO(code)

    def readline() -> str:
        line = reader.readline()
        starts.append(starts[-1] + len(line))
        return line

    def offset(row: int, col: int) -> int:
        return min(starts[min(row, len(starts)) - 1] + col, len(code))

    position = 0
    fstring_depth = 0
    fstring_start = 0
    for tok in tokenize.generate_tokens(readline):
        start, end = offset(*tok.start), offset(*tok.end)
        if tok.type == _FSTRING_START:
            fstring_depth += 1
            if fstring_depth == 1:
                fstring_start = start
            continue
        if fstring_depth:
            if tok.type == _FSTRING_END:
                fstring_depth -= 1
                if fstring_depth == 0:
                    yield "", code[position:fstring_start]
                    yield "string", code[fstring_start:end]
                    position = end
            continue
        kind = _kind(tok)
        if not kind or start < position:
            continue  # left in the plain text between highlighted tokens
        yield "", code[position:start]
        yield kind, code[start:end]
        position = end
    yield "", code[position:]


def _kind(tok: tokenize.TokenInfo) -> str:
    if tok.type == token.NAME:
        if keyword.iskeyword(tok.string):
            return "kw"
        return "builtin" if tok.string in _BUILTINS else ""
    return _CLASSES.get(tok.type, "")
