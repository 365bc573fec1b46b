"""The sandbox's own process: a fork server, or a one-shot runner, for untrusted code.

This file runs as a script in a fresh interpreter (``python -I runner.py``) with
an empty environment, and imports only the standard library, so nothing of the
host application (settings, secrets, ORM) is in its memory. Every execution
happens in a forked child that isolates itself before touching the code:

* standard streams point at ``/dev/null``; every other descriptor except the
  result pipe is closed, so the child cannot reach the server's channel;
* it ``chroot``\\ s into an empty temporary directory (root, or inside a user
  namespace) — no ``/proc``, no files of the host;
* rlimits: CPU, address space, file size 0, no new processes, no new descriptors;
* started as root it drops to ``nobody``; otherwise it drops its capabilities;
* the network namespace of the whole server is a new, empty one when the kernel
  allows it.

Wire format, both directions: 4-byte big-endian length + UTF-8 JSON. The child
writes two frames on its result pipe: an isolation report *before* the code
runs, then the outcome. The server accepts exactly these two frames and derives
timing, exit status and limit kills itself, so nothing the code writes can
change how its run is judged; ``print`` goes to a bounded in-memory buffer.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import ctypes.util
import importlib
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import types
from typing import Any, NoReturn

HEADER = struct.Struct(">I")
NOBODY = 65534
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
RESULT_FD = 3
#: Extra bytes allowed on the result pipe beyond ``max_output_bytes`` (frames, JSON).
FRAME_SLACK = 64 * 1024

SAFE_BUILTINS: tuple[str, ...] = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "classmethod", "complex", "dict", "divmod", "enumerate", "filter", "float", "format",
    "frozenset", "hasattr", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter",
    "len", "list", "map", "max", "min", "next", "object", "oct", "ord", "pow", "property",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "str",
    "sum", "super", "tuple", "zip", "None", "True", "False", "Ellipsis", "NotImplemented",
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "Exception",
    "IndexError", "KeyError", "LookupError", "NameError", "NotImplementedError",
    "OverflowError", "RecursionError", "RuntimeError", "StopIteration", "TypeError",
    "UnicodeError", "ValueError", "ZeroDivisionError",
)  # fmt: skip

_libc: Any = None


def libc() -> Any:
    """The C library, loaded once (before any chroot)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


# -- framing -------------------------------------------------------------------------


def write_frame(fd: int, payload: object) -> None:
    """Write one length-prefixed JSON frame to ``fd``."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    view = memoryview(HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def read_exact(fd: int, size: int) -> bytes:
    """Read exactly ``size`` bytes from ``fd`` (EOFError when it closes first)."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            raise EOFError("channel closed")
        chunks += chunk
    return bytes(chunks)


def read_frame(fd: int) -> Any:
    """Read one length-prefixed JSON frame from ``fd``."""
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size))
    return json.loads(read_exact(fd, size))


def parse_frames(raw: bytes) -> list[Any]:
    """Split ``raw`` into JSON frames; ValueError on anything malformed."""
    frames = []
    offset = 0
    while offset < len(raw):
        if len(raw) - offset < HEADER.size:
            raise ValueError("truncated frame header")
        (size,) = HEADER.unpack_from(raw, offset)
        offset += HEADER.size
        if len(raw) - offset < size:
            raise ValueError("truncated frame")
        frames.append(json.loads(raw[offset : offset + size]))
        offset += size
    return frames


# -- the code's world ----------------------------------------------------------------


class OutputLimitExceeded(BaseException):
    """Raised inside the child when the code prints more than allowed."""


class BoundedOutput:
    """A write-only text sink that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.exceeded = False

    def write(self, text: str) -> int:
        text = str(text)
        size = len(text.encode("utf-8", "replace"))
        if self.size + size > self.limit:
            self.exceeded = True
            raise OutputLimitExceeded()
        self.parts.append(text)
        self.size += size
        return len(text)

    def flush(self) -> None:
        """Nothing to flush: output stays in memory."""

    def getvalue(self) -> str:
        return "".join(self.parts)


class ModuleView(types.SimpleNamespace):
    """What ``import`` gives the code: a module's public attributes, minus other modules."""


def module_view(
    module: types.ModuleType, allowed: frozenset[str], views: dict[str, ModuleView]
) -> ModuleView:
    """A copy of ``module``'s public namespace; submodules appear only when allowed."""
    if module.__name__ in views:
        return views[module.__name__]
    view = views[module.__name__] = ModuleView()
    for name, value in list(vars(module).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, types.ModuleType):
            if value.__name__.split(".")[0] not in allowed:
                continue
            value = module_view(value, allowed, views)
        setattr(view, name, value)
    return view


def preload(names: list[str]) -> dict[str, types.ModuleType]:
    """Import the allowed modules (and their loaded submodules) while files are still visible."""
    modules: dict[str, types.ModuleType] = {}
    for name in names:
        with contextlib.suppress(Exception):
            modules[name] = importlib.import_module(name)
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in modules and module is not None:
            modules[name] = module
    return modules


def restricted_builtins(
    allowed: frozenset[str], modules: dict[str, types.ModuleType], output: BoundedOutput
) -> dict[str, Any]:
    """The builtins the code sees: no files, no reflection, no dynamic code, guarded import."""
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS if hasattr(builtins, name)}
    views: dict[str, ModuleView] = {}

    def guarded_import(
        name: str,
        globals: object = None,
        locals: object = None,
        fromlist: tuple[str, ...] | None = (),
        level: int = 0,
    ) -> ModuleView:
        top = name.split(".")[0]
        if level != 0 or top not in allowed or name not in modules:
            raise ImportError(f"import of {name!r} is not allowed in the sandbox")
        return module_view(modules[name if fromlist else top], allowed, views)

    def sandbox_print(*args: object, sep: str | None = " ", end: str | None = "\n") -> None:
        output.write((" " if sep is None else str(sep)).join(str(a) for a in args))
        output.write("\n" if end is None else str(end))

    safe["__import__"] = guarded_import
    safe["__build_class__"] = builtins.__build_class__
    safe["print"] = sandbox_print
    return safe


# -- isolation -----------------------------------------------------------------------


def isolate_server() -> dict[str, Any]:
    """Put the whole server into a new, empty network namespace when the kernel allows it."""
    c = libc()
    c.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if os.geteuid() == 0:
        return {"network_namespace": c.unshare(CLONE_NEWNET) == 0, "user_namespace": False}
    if c.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        return {"network_namespace": True, "user_namespace": True}
    return {"network_namespace": False, "user_namespace": c.unshare(CLONE_NEWUSER) == 0}


def _drop_capabilities() -> bool:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    return bool(libc().capset(header, data) == 0)


def isolate_child(workdir: str, limits: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """Confine the forked child before the code runs; return what was achieved."""
    statm = open("/proc/self/statm").read().split()  # noqa: SIM115 (before chroot)
    baseline = int(statm[0]) * resource.getpagesize()
    root = os.geteuid() == 0 and not server["user_namespace"]
    report: dict[str, Any] = dict(server, chroot=False, uid=os.geteuid(), uid_dropped=False)
    try:
        os.chroot(workdir)
        os.chdir("/")
        report["chroot"] = True
    except OSError:
        os.chdir(workdir)
    memory = baseline + int(limits["memory_mb"]) * 1024 * 1024
    cpu = max(1, int(-(-float(limits["cpu_seconds"]) // 1)))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (RESULT_FD + 1, RESULT_FD + 1))
    if root:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        report["uid_dropped"] = True
    else:
        report["capabilities_dropped"] = _drop_capabilities()
    libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    report["uid"] = os.geteuid()
    return report


def _private_descriptors(result_fd: int) -> None:
    """Standard streams to /dev/null, the result pipe on fd 3, everything else closed."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if result_fd != RESULT_FD:
        os.dup2(result_fd, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 20)


def run_child(
    request: dict[str, Any], result_fd: int, workdir: str, server: dict[str, Any]
) -> NoReturn:
    """Body of the forked child: isolate, run the code, report. Never returns."""
    try:
        limits = request["limits"]
        allowed = frozenset(limits["allowed_modules"])
        modules = preload(sorted(allowed))
        data = json.loads(request["data"])
        _private_descriptors(result_fd)
        isolation = isolate_child(workdir, limits, server)
        output = BoundedOutput(int(limits["max_output_bytes"]))
        sys.stdout = sys.stderr = output
        namespace: dict[str, Any] = {
            "__builtins__": restricted_builtins(allowed, modules, output),
            "__name__": "__sandbox__",
            "data": data,
        }
        write_frame(RESULT_FD, {"isolation": isolation})
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            write_frame(RESULT_FD, {"isolation": None, "setup_error": repr(exc)})
        os._exit(70)
    outcome = _execute(request["code"], namespace, output)
    try:
        write_frame(RESULT_FD, outcome)
    except BaseException:
        os._exit(71)
    os._exit(0)


def _execute(code: str, namespace: dict[str, Any], output: BoundedOutput) -> dict[str, Any]:
    try:
        exec(compile(code, "<generated>", "exec"), namespace)
        encoded = json.dumps(namespace.get("result"))
        if len(encoded) > output.limit:
            return {"violation": "result larger than the output limit", "stdout": output.getvalue()}
    except OutputLimitExceeded:
        return {"violation": "output limit exceeded", "stdout": output.getvalue()}
    except MemoryError:
        return {"violation": "memory limit exceeded", "stdout": output.getvalue()}
    except BaseException as exc:
        if output.exceeded:
            return {"violation": "output limit exceeded", "stdout": output.getvalue()}
        return {
            "error_type": type(exc).__name__,
            "error_message": str(exc)[:2000],
            "line": _error_line(exc),
            "stdout": output.getvalue(),
        }
    return {"result_json": encoded, "stdout": output.getvalue()}


def _error_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<generated>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# -- the supervisor: fork, watch, judge ----------------------------------------------


def supervise(request: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """Run one request in a forked child and report what happened, measured from outside."""
    limits = request["limits"]
    budget = int(limits["max_output_bytes"]) * 2 + FRAME_SLACK
    workdir = tempfile.mkdtemp(prefix="agentic-sandbox-")
    os.chmod(workdir, 0o555)
    read_fd, write_fd = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        run_child(request, write_fd, workdir, server)
    os.close(write_fd)
    try:
        raw, killed, overflow = _collect(pid, read_fd, float(limits["wall_seconds"]), budget)
        _, status, usage = os.wait4(pid, 0)
    finally:
        os.close(read_fd)
        shutil.rmtree(workdir, ignore_errors=True)
    report: dict[str, Any] = {
        "duration_ms": (time.perf_counter() - started) * 1000,
        "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
        "max_rss_kb": usage.ru_maxrss,
        "exit_code": os.waitstatus_to_exitcode(status),
        "killed": killed,
        "overflow": overflow,
    }
    try:
        frames = parse_frames(raw)
    except ValueError:
        frames = None
    report["frames_valid"] = frames is not None and len(frames) <= 2
    if frames:
        report["isolation"] = frames[0].get("isolation") if isinstance(frames[0], dict) else None
    if frames is not None and len(frames) == 2 and isinstance(frames[1], dict):
        report["outcome"] = frames[1]
    return report


def _collect(pid: int, fd: int, wall_seconds: float, budget: int) -> tuple[bytes, bool, bool]:
    """Read the child's pipe until it exits, the wall clock runs out, or it writes too much."""
    deadline = time.monotonic() + wall_seconds
    raw = bytearray()
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    watched = [fd] if pidfd is None else [fd, pidfd]
    eof = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                return bytes(raw), True, False
            ready, _, _ = select.select(
                watched, [], [], min(remaining, 0.05 if pidfd is None else remaining)
            )
            if fd in ready and not eof:
                chunk = os.read(fd, 65536)
                if not chunk:
                    eof = True
                    watched.remove(fd)
                raw += chunk
                if len(raw) > budget:
                    os.kill(pid, signal.SIGKILL)
                    return bytes(raw), False, True
            exited = (pidfd is not None and pidfd in ready) or (
                pidfd is None and os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            )
            if exited:
                while not eof:  # drain what the child wrote before it exited
                    chunk = os.read(fd, 65536)
                    eof = not chunk
                    raw += chunk
                    if len(raw) > budget:
                        return bytes(raw), False, True
                return bytes(raw), False, False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def serve(once: bool) -> None:
    """Answer request frames on stdin with report frames on stdout."""
    server = isolate_server()
    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    write_frame(out_fd, {"ready": True, "pid": os.getpid(), **server})
    while True:
        try:
            request = read_frame(in_fd)
        except EOFError:
            return
        try:
            report = supervise(request, server)
        except Exception as exc:  # the server must survive a bad request
            report = {"server_error": f"{type(exc).__name__}: {exc}"}
        write_frame(out_fd, report)
        if once:
            return


def main(argv: list[str]) -> None:
    """Entry point: ``runner.py [--once] [--preload mod,mod]``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc()
    once = "--once" in argv
    if "--preload" in argv:
        preload([m for m in argv[argv.index("--preload") + 1].split(",") if m])
    serve(once)


if __name__ == "__main__":
    main(sys.argv[1:])
