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
