"""The server-side Python highlighter used for generated code in admin."""

from __future__ import annotations

import html
import re

import pytest

from agentic_django.services.highlight import highlight_python


def plain(markup: str) -> str:
    """The text a browser would show for ``markup``."""
    return html.unescape(re.sub(r"</?span[^>]*>", "", markup))


def test_keywords_builtins_numbers_strings_and_comments_get_their_classes():
    markup = highlight_python('def f(x):\n    return len(x) + 1.5  # why\ns = "hi"\n')
    assert '<span class="tok-kw">def</span>' in markup
    assert '<span class="tok-kw">return</span>' in markup
    assert '<span class="tok-builtin">len</span>' in markup
    assert '<span class="tok-number">1.5</span>' in markup
    assert '<span class="tok-comment"># why</span>' in markup
    assert '<span class="tok-string">&quot;hi&quot;</span>' in markup
    # Ordinary names stay plain text.
    assert '<span class="tok-kw">f</span>' not in markup and 'tok-builtin">x<' not in markup


def test_html_in_strings_and_comments_is_escaped():
    code = 'x = "<script>alert(1)</script>"  # </pre><img src=x onerror=alert(2)>\n'
    markup = highlight_python(code)
    assert "<script>" not in markup and "<img" not in markup and "</pre>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert plain(markup) == code


def test_code_that_does_not_parse_is_still_highlighted_and_escaped():
    # An approver reads broken generated code too: it is highlighted around the error.
    code = 'def broken(:\n    s = """never closed <b>\n'
    markup = highlight_python(code)
    assert '<span class="tok-kw">def</span>' in markup
    assert "<b>" not in markup and "&lt;b&gt;" in markup
    assert plain(markup) == code


def test_bad_indentation_is_highlighted_and_escaped():
    code = "if x:\n        a = 1\n    b = '<i>'\n"
    markup = highlight_python(code)
    assert '<span class="tok-kw">if</span>' in markup
    assert "<i>" not in markup
    assert plain(markup) == code


@pytest.mark.parametrize(
    "code",
    [
        "",
        "x = 1",
        "a = (1,\n     2)\r\nb = 'two'\r\n",
        "total = 1 + \\\n    2\n",
        'name = f"{user!r}: {len(items)} <items>"\n',
        "s = '''multi\nline <b>string</b>'''\nprint(s)\n",
        "\tif True:\n\t\tpass\n",
        "x = 1 $ 2 ? 3\n",
    ],
)
def test_every_character_of_the_code_is_kept(code):
    assert plain(highlight_python(code)) == code


def test_multiline_strings_are_one_span():
    markup = highlight_python("s = '''one\ntwo'''\n")
    assert "<span class=\"tok-string\">'''one\ntwo'''</span>".replace("'", "&#x27;") in markup


def test_the_result_is_marked_safe_for_templates():
    from django.template import Context, Template

    rendered = Template("{{ code }}").render(Context({"code": highlight_python("if '<a>': x")}))
    assert '<span class="tok-kw">if</span>' in rendered
    assert "&#x27;&lt;a&gt;&#x27;" in rendered
