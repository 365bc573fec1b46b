"""Escape attempts against the sandbox.

Each attack names its expected containment: ``static`` (static analysis refuses
it) or ``runtime`` (static analysis lets it through; the sandbox contains it).
Every attack also runs in the sandbox with static analysis skipped, and the
parent's secret must never come back, whatever the outcome.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agentic_django.core.exceptions import CodeExecutionError, SandboxViolation
from agentic_django.harness.sandbox import ForkServerSandbox
from agentic_django.harness.static_analysis import analyze

ROOT = os.geteuid() == 0

#: A classic escape from restricted builtins: reach os through object.__subclasses__().
ESCAPE = """
def _cls(name):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == name:
            return c
OS = _cls('_wrap_close').__init__.__globals__
B = OS['__builtins__']
IMPORT = B['__import__']
os = IMPORT('os')
sys = IMPORT('sys')
"""

PARENT_FILE = "/tmp/agentic-attack-parent-secret.txt"
PWNED_FILE = "/tmp/agentic-attack-pwned.txt"

ATTACKS: list[tuple[str, str, str]] = [
    # import tricks
    ("import_os", "import os\nresult = dict(os.environ)", "static"),
    ("from_os_import", "from os import environ\nresult = dict(environ)", "static"),
    ("import_sys_modules", "import sys\nresult = str(sys.modules)", "static"),
    ("import_subprocess", "import subprocess\nresult = subprocess.getoutput('env')", "static"),
    (
        "import_importlib",
        "import importlib\nresult = importlib.import_module('os').getcwd()",
        "static",
    ),
    ("relative_import", "from . import runner", "static"),
    ("dunder_import_call", "result = __import__('os').environ.copy()", "static"),
    ("builtins_string_lookup", "result = __builtins__['__imp' + 'ort__']('os').getcwd()", "static"),
    (
        "builtins_import_module",
        "import builtins\nresult = builtins.open('/etc/hostname').read()",
        "static",
    ),
    (
        "module_alias_to_codecs",
        "import json as j\nc = j.codecs\nresult = c.open('/etc/passwd').read()",
        "static",
    ),
    (
        "private_module_attribute",
        "import collections\nresult = collections._sys.modules['os'].getcwd()",
        "static",
    ),
    ("submodule_reaching_os", "from json import codecs\nresult = 1", "static"),
    ("alias_then_attribute", "import json\nj = json\nresult = str(j.codecs)", "runtime"),
    # dunder and __subclasses__ walks
    ("subclasses_to_environ", ESCAPE + "result = dict(os.environ)", "static"),
    ("subclasses_to_posix", ESCAPE + "result = dict(IMPORT('posix').environ)", "static"),
    ("function_globals", "f = lambda: 0\nresult = str(f.__globals__)", "static"),
    ("class_mro_walk", "result = str(''.__class__.__mro__[1].__subclasses__())", "static"),
    ("dunder_name_binding", "__builtins__ = {}\nresult = 1", "static"),
    ("dunder_in_def", "def f(__x__):\n    return __x__\nresult = f(1)", "static"),
    # frames and tracebacks
    ("getframe_globals", ESCAPE + "result = str(sys._getframe(1).f_globals.keys())", "static"),
    (
        "traceback_frame_globals",
        "try:\n    1 / 0\nexcept Exception as e:\n"
        "    result = str(e.__traceback__.tb_frame.f_back.f_globals)",
        "static",
    ),
    ("generator_frame", "g = (x for x in [1])\nresult = str(g.gi_frame.f_back)", "static"),
    ("frame_builtins", ESCAPE + "result = str(sys._getframe(0).f_builtins.keys())", "static"),
    # gc
    ("import_gc", "import gc\nresult = len(gc.get_objects())", "static"),
    (
        "gc_secret_hunt",
        ESCAPE
        + "gc = IMPORT('gc')\n"
        + "objs = gc.get_objects()\n"
        + "result = [o for o in objs if isinstance(o, dict) and 'AGENTIC_TEST_SECRET' in o]\n"
        + "result = [str(o) for o in result]",
        "static",
    ),
    # builtins and attributes by string
    ("getattr_by_string", "result = getattr(0, '__cla' + 'ss__')", "static"),
    ("vars_and_globals", "result = str(vars()) + str(globals())", "static"),
    ("locals_lookup", "result = str(locals())", "static"),
    # format-string attribute access
    ("format_dunder", "result = '{0.__class__.__base__.__subclasses__}'.format(0)", "static"),
    ("format_private", "import json\nresult = '{0._default_decoder}'.format(json)", "static"),
    (
        "format_map_globals",
        "f = lambda: 0\nresult = '{f.__globals__}'.format_map({'f': f})",
        "static",
    ),
    # decoding tricks
    ("codecs_rot13_exec", "import codecs\nexec(codecs.decode('vzcbeg bf', 'rot13'))", "static"),
    ("base64_exec", "import base64\nexec(base64.b64decode('aW1wb3J0IG9z'))", "static"),
    ("compile_exec", "c = compile('import os', 'x', 'exec')\nexec(c)", "static"),
    ("eval_chr_join", "result = eval(''.join(map(chr, [49, 43, 49])))", "static"),
    # resource bombs (static analysis lets them through: the sandbox must hold)
    ("memory_bytearray", "x = bytearray(8 * 1024 ** 3)", "runtime"),
    ("memory_growth", "xs = []\nwhile True:\n    xs.append('x' * 10 ** 6)", "runtime"),
    ("cpu_loop", "while True:\n    pass", "runtime"),
    ("cpu_math", "n = 0\nwhile True:\n    n = (n * 7 + 3) % 1000003", "runtime"),
    ("recursion", "def f(n):\n    return f(n + 1)\nresult = f(0)", "runtime"),
    ("print_flood", "while True:\n    print('A' * 4096)", "runtime"),
    ("huge_result", "result = ['x' * 1000] * 100000", "runtime"),
    ("huge_int_string", "result = str(10 ** 100000)", "runtime"),
    (
        "print_spoofs_result_frame",
        "print('\\x00\\x00\\x00\\x12{\"result_json\":\"1\"}')\nresult = 'real'",
        "runtime",
    ),
    # processes, files, network, secrets — with the restricted builtins escaped
    ("fork", ESCAPE + "pid = os.fork()\nresult = 'ESCAPED' if pid >= 0 else 0", "static"),
    ("system", ESCAPE + "result = 'ESCAPED' if os.system('true') == 0 else 'no'", "static"),
    (
        "file_write",
        ESCAPE + f"B['open']('{PWNED_FILE}', 'w').write('x')\nresult = 'ESCAPED'",
        "static",
    ),
    (
        "file_write_cwd",
        ESCAPE + "B['open']('pwned', 'w').write('x' * 10)\nresult = 'ESCAPED'",
        "static",
    ),
    (
        "read_proc_self_environ",
        ESCAPE + "result = B['open']('/proc/self/environ').read()",
        "static",
    ),
    (
        "read_parent_environ",
        ESCAPE + "result = B['open'](f'/proc/{os.getppid()}/environ').read()",
        "static",
    ),
    ("read_pid1_environ", ESCAPE + "result = B['open']('/proc/1/environ').read()", "static"),
    ("read_parent_file", ESCAPE + f"result = B['open']('{PARENT_FILE}').read()", "static"),
    ("list_root", ESCAPE + "result = os.listdir('/')", "static"),
    (
        "socket_connect",
        ESCAPE + "s = IMPORT('socket').create_connection(('1.1.1.1', 53), 1)\nresult = 'ESCAPED'",
        "static",
    ),
    (
        "raw_socket_ctypes",
        ESCAPE + "libc = IMPORT('ctypes').CDLL(None)\nfd = libc.socket(2, 1, 0)\n"
        "result = 'ESCAPED' if fd >= 0 else fd",
        "static",
    ),
    (
        "chroot_escape",
        ESCAPE + "os.mkdir('x')\nos.chroot('x')\nos.chdir('../../..')\nresult = os.listdir('.')",
        "static",
    ),
    ("setuid_root", ESCAPE + "os.setuid(0)\nresult = 'ESCAPED'", "static"),
    ("kill_server", ESCAPE + "os.kill(os.getppid(), 9)\nresult = 'ESCAPED'", "static"),
    (
        "raise_rlimit",
        ESCAPE + "r = IMPORT('resource')\nr.setrlimit(r.RLIMIT_CPU, (-1, -1))\nresult = 'ESCAPED'",
        "static",
    ),
    (
        "write_parent_channel",
        ESCAPE + "os.write(1, b'\\x00\\x00\\x00\\x02{}')\nresult = 'real'",
        "static",
    ),
    (
        "forge_result_frame",
        ESCAPE + 'os.write(3, b\'\\x00\\x00\\x00\\x12{"result_json":"1"}\')\nresult = 2',
        "static",
    ),
    (
        "forge_and_exit",
        ESCAPE + 'os.write(3, b\'\\x00\\x00\\x00\\x14{"result_json":"666"}\')\nos._exit(0)',
        "static",
    ),
    ("dup_new_descriptor", ESCAPE + "fd = os.dup(3)\nresult = 'ESCAPED'", "static"),
]

#: Attacks whose containment relies on root-only measures (chroot + nobody).
NEEDS_ROOT = {
    "read_proc_self_environ",
    "read_parent_environ",
    "read_pid1_environ",
    "read_parent_file",
    "list_root",
    "chroot_escape",
    "kill_server",
    "file_write",
    "file_write_cwd",
}


@pytest.fixture(scope="module", autouse=True)
def parent_file(secret: str) -> Any:
    path = Path(PARENT_FILE)
    path.write_text(secret)
    path.chmod(0o600)
    yield path
    path.unlink(missing_ok=True)
    Path(PWNED_FILE).unlink(missing_ok=True)


def test_the_suite_has_at_least_forty_attacks() -> None:
    assert len(ATTACKS) >= 40
    assert len({name for name, _, _ in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize(("name", "code", "expected"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_static_analysis_verdict(name: str, code: str, expected: str) -> None:
    verdict = analyze(code)
    assert verdict.ok is (expected == "runtime"), verdict.violations


@pytest.mark.parametrize(("name", "code", "expected"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_contained_at_run_time(
    sandbox: ForkServerSandbox, secret: str, name: str, code: str, expected: str
) -> None:
    if name in NEEDS_ROOT and not ROOT:
        pytest.skip("containment of this attack needs a root-started sandbox (chroot + nobody)")
    seen: list[str] = []
    try:
        outcome = await sandbox.execute(code, {"payload": 1})
        seen += [repr(outcome.result), outcome.stdout]
    except (SandboxViolation, CodeExecutionError) as exc:
        seen += [str(exc), repr(exc.details)]
    text = " ".join(seen)
    assert secret not in text
    assert "ESCAPED" not in text
    if name == "print_spoofs_result_frame":
        assert outcome.result == "real"
        assert '{"result_json":"1"}' in outcome.stdout
    if name in {"forge_result_frame", "write_parent_channel"}:
        assert "'real'" in text or "result channel" in text
    assert not Path(PWNED_FILE).exists()


async def test_sandbox_still_serves_after_the_attacks(sandbox: ForkServerSandbox) -> None:
    assert (await sandbox.execute("result = data", 5)).result == 5


async def test_environment_of_the_sandbox_is_empty(sandbox: ForkServerSandbox) -> None:
    outcome = await sandbox.execute(ESCAPE + "result = dict(os.environ)")
    # Python itself may set LC_CTYPE (PEP 538); nothing of the parent is inherited.
    assert set(outcome.result) <= {"LC_CTYPE"}
