"""Python source as HTML with token classes, for showing generated code in admin.

Pygments' Python lexer cuts the code into tokens on the server, so admin pages need
no JavaScript. It is lenient where the stdlib ``tokenize`` gives up: generated code
that does not parse (an unclosed string, bad indentation) is still highlighted up to
and around the error, which is what an approver reading it needs. Every character of
the source is kept and HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

from django.utils.safestring import SafeString, mark_safe
from pygments.lexers.python import PythonLexer
from pygments.token import Comment, Keyword, Name, Number, Operator, String, _TokenType

#: Token types and the CSS class suffix (``tok-…``) they are shown with; the first
#: match along a token type's parents wins. Other tokens are plain text.
_CLASSES: tuple[tuple[_TokenType, str], ...] = (
    (Name.Builtin.Pseudo, ""),  # self, cls: ordinary names to a reader
    (Keyword, "kw"),
    (Operator.Word, "kw"),  # and, or, not, in, is
    (Name.Builtin, "builtin"),
    (Name.Exception, "builtin"),
    (String, "string"),
    (Number, "number"),
    (Comment, "comment"),
)

# Unprocessed tokens: no newline normalisation or stripping, so the pieces join back
# to the exact source.
_LEXER = PythonLexer(stripnl=False, ensurenl=False)


def highlight_python(code: str) -> SafeString:
    """``code`` HTML-escaped, with keywords, builtins, strings, numbers and comments in
    ``<span class="tok-…">`` (``tok-kw``, ``tok-builtin``, ``tok-string``, ``tok-number``,
    ``tok-comment``)."""
    pieces = list(_merged(_pieces(code)))
    if "".join(text for _kind, text in pieces) != code:
        # Never lose or repeat a character, whatever the lexer reported.
        return mark_safe(escape(code))
    return mark_safe(
        "".join(
            f'<span class="tok-{kind}">{escape(text)}</span>' if kind else escape(text)
            for kind, text in pieces
        )
    )


def _pieces(code: str) -> Iterator[tuple[str, str]]:
    for _index, token_type, text in _LEXER.get_tokens_unprocessed(code):
        yield _kind(token_type), text


def _kind(token_type: _TokenType) -> str:
    for parent, kind in _CLASSES:
        if token_type in parent:
            return kind
    return ""


def _merged(pieces: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Adjacent pieces of one kind as one (a string's quotes and body are one span)."""
    kind, text = "", ""
    for next_kind, next_text in pieces:
        if next_kind == kind:
            text += next_text
            continue
        if text:
            yield kind, text
        kind, text = next_kind, next_text
    if text:
        yield kind, text
