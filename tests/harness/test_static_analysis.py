from __future__ import annotations

import pytest

from agentic_django.core.exceptions import PolicyViolation
from agentic_django.harness.static_analysis import analyze


def test_plain_code_using_allowed_modules_passes() -> None:
    code = "import json, math\nfrom collections import Counter\nresult = math.sqrt(len(data))"
    assert analyze(code).ok


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("import os", "import"),
        ("from subprocess import run", "import"),
        ("x.__class__", "dunder"),
        ("__builtins__", "dunder"),
        ("eval('1')", "forbidden_name"),
        ("open('f')", "forbidden_name"),
        ("getattr(x, 'y')", "forbidden_name"),
        ("x.open('f')", "forbidden_name"),
        ("import json\njson.codecs", "module_attribute"),
        ("x._private", "private_attribute"),
        ("'{0.__class__}'.format(1)", "dunder"),
        ("def f(:", "syntax"),
    ],
)
def test_each_rule_blocks(code: str, rule: str) -> None:
    verdict = analyze(code)
    assert not verdict.ok
    assert rule in {v.rule for v in verdict.violations}


def test_violations_carry_line_numbers() -> None:
    verdict = analyze("x = 1\ny = 2\nimport os\nz = eval('3')")
    assert [(v.line, v.rule) for v in verdict.violations] == [(3, "import"), (4, "forbidden_name")]


def test_custom_allowlist_is_honoured() -> None:
    assert analyze("import random", allowed_modules=["random"]).ok
    assert not analyze("import json", allowed_modules=["random"]).ok


def test_raise_if_blocked_raises_policy_violation_with_every_violation() -> None:
    with pytest.raises(PolicyViolation) as info:
        analyze("import os\nimport sys").raise_if_blocked()
    assert info.value.policy == "static_analysis"
    assert len(info.value.violations) == 2


def test_null_bytes_are_a_syntax_violation() -> None:
    assert analyze("x = 1\x00").violations[0].rule == "syntax"


#: Ways to read an attribute whose name the analysis cannot see, one per class.
HIDDEN_ATTRIBUTE_ACCESS = {
    "match_class_keyword": "match data:\n    case object(__traceback__=tb):\n        result = tb",
    "match_class_private_keyword": "match data:\n    case object(_secret=s):\n        result = s",
    "match_star_dunder_name": "match data:\n    case [*__x__]:\n        pass",
    "match_mapping_dunder_key": "match data:\n    case {'__class__': c}:\n        result = c",
    "match_value_dunder": "match data:\n    case data.__class__:\n        pass",
    "methodcaller_runtime_name": (
        "import operator\nn = '_' * 2 + 'class' + '_' * 2\nresult = operator.methodcaller(n)(data)"
    ),
    "methodcaller_of_format": (
        "import operator\nresult = operator.methodcaller('format', data)('{0}')"
    ),
    "attrgetter_runtime_name": "from operator import attrgetter\nn = 'x'\nattrgetter(n)(1)",
    "attrgetter_dotted_private": "from operator import attrgetter\nresult = attrgetter('a._b')(1)",
    "itemgetter_runtime_key": "import operator\nk = 'x'\nresult = operator.itemgetter(k)(data)",
    "getter_stored_then_called": "import operator\nf = operator.attrgetter\nresult = f('real')(1)",
    "getter_renamed_on_import": "from operator import methodcaller as mc\nresult = mc('x')",
    "getter_passed_to_map": "import operator\nresult = list(map(operator.attrgetter, ['real']))",
    "getter_as_property": (
        "import operator\nclass C:\n    p = property(fget=operator.methodcaller(data))"
    ),
    "formatter_get_field": "import string\nresult = string.Formatter().get_field('0', [data], {})",
    "formatter_imported": "from string import Formatter\nresult = Formatter()",
    "format_string_built_at_run_time": (
        "fmt = '{0.' + '_' * 2 + 'class' + '_' * 2 + '}'\nresult = fmt.format(data)"
    ),
    "unbound_str_format": "result = str.format('{0}', data)",
    "str_format_passed_around": "f = str.format\nresult = list(map(f, ['{0}'], [data]))",
    "literal_format_stored": "f = '{0}'.format\nresult = f(data)",
    "format_map": "result = '{x}'.format_map({'x': 1})",
    "format_field_to_frame": "result = '{0.gi_frame.f_back}'.format(data)",
    "format_field_to_closure": "result = '{0.cell_contents}'.format(data)",
    "cell_contents": "def f():\n    x = 1\n    return lambda: x\nresult = f().cell_contents",
    "wrapped_function": "import functools\nresult = functools.wraps(len)(abs).__wrapped__",
    "except_star_group": "try:\n    pass\nexcept* ValueError as eg:\n    result = eg",
    "generic_alias_origin": "result = list[int].__origin__",
    "string_annotation_evaluated_later": "def f(x: 'data'):\n    pass",
    "coroutine_await_chain": "async def f():\n    pass\nresult = f().cr_await",
}


@pytest.mark.parametrize("code", HIDDEN_ATTRIBUTE_ACCESS.values(), ids=HIDDEN_ATTRIBUTE_ACCESS)
def test_attribute_access_hidden_from_the_analysis_is_refused(code: str) -> None:
    assert not analyze(code).ok


@pytest.mark.parametrize(
    "code",
    [
        "from operator import attrgetter\nresult = attrgetter('real', 'imag')(1)",
        "import operator\nresult = operator.methodcaller('upper')('a')",
        "from operator import itemgetter\nresult = sorted(data, key=itemgetter('a', 0))",
        "result = '{}: {:.2f} {x[a]}'.format('a', 1.5, x={'a': 1})",
        "match data:\n    case {'a': x}:\n        y = x\n    case int(real=r):\n        y = r",
        "def f(x: int) -> int:\n    return x\nresult = f(1)",
    ],
)
def test_ordinary_uses_of_the_same_features_pass(code: str) -> None:
    assert analyze(code).ok, analyze(code).violations
