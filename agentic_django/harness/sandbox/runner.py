"""The sandbox's own process: a pristine fork server (zygote) for untrusted code.

This file runs as a script in a fresh interpreter (``python -I runner.py``) with
an empty environment and imports only the standard library (plus ``pyseccomp``
when installed), so nothing of the host application is in its memory.

The server never sees a request. Its control socket (fd 0, ``SOCK_SEQPACKET``)
carries only "spawn" commands with the wall-clock limit and two descriptors:
the read end of a request pipe and the write end of a result pipe, both made by
the parent. Ahead of each request the server forks the next *worker* into fresh
namespaces (directly as root; through a *keeper* process in a user namespace),
where it waits on a hand-off socket; on "spawn" the server passes it the two
descriptors, closes its copies and waits. The worker alone reads its request,
isolates itself, runs the code and writes its report straight to the parent. So
every worker is forked from a process that has never held any request's code,
data or result, and the server answers with exit status and resource usage only.

The worker, before the code runs:

* is PID 1 of its own PID namespace, with private IPC, mount, UTS and network
  namespaces when the kernel allows (inside a user namespace when not root);
* points its standard streams at ``/dev/null`` and closes every descriptor but
  the result pipe;
* ``chroot``\\ s into an empty, deleted directory (no ``/proc``, no host files, no
  new entries possible);
* sets rlimits (CPU, address space, file size 0, no processes, no descriptors);
* drops to ``nobody`` (root) or drops every capability (user namespace);
* sets ``no_new_privs`` and loads a seccomp filter that refuses tracing, other
  processes' memory and signals, keyrings, SysV/POSIX IPC, sockets, namespace
  and mount calls, kernel modules, BPF, perf and userfaultfd.

Wire format on pipes: 4-byte big-endian length + UTF-8 JSON. The worker writes
two frames on its result pipe: an isolation report *before* the code runs, then
the outcome. The parent accepts exactly these two frames and the server measures
timing, exit status and limit kills, so nothing the code writes can change how
its run is judged; ``print`` goes to a bounded in-memory buffer.
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
import signal
import socket
import struct
import sys
import tempfile
import time
import types
from typing import Any, NoReturn

try:
    import pyseccomp
except ImportError:  # libseccomp or its binding missing: reported as a degraded mode
    pyseccomp = None

HEADER = struct.Struct(">I")
NOBODY = 65534
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
#: Namespaces each execution gets of its own, by the name reported on results.
NAMESPACES: dict[str, int] = {
    "pid_namespace": CLONE_NEWPID,
    "ipc_namespace": CLONE_NEWIPC,
    "mount_namespace": CLONE_NEWNS,
    "network_namespace": CLONE_NEWNET,
    "uts_namespace": CLONE_NEWUTS | CLONE_NEWCGROUP,
}
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
#: Seconds a keeper gets to stop its worker before it is killed itself.
KEEPER_GRACE_SECONDS = 1.0
RESULT_FD = 3

#: Modules the allowed ones import lazily, on first use of a function (``Counter.most_common``
#: imports ``heapq``, ``datetime.strptime`` imports ``_strptime``…), and codecs: after the
#: chroot and with no free descriptor nothing can be read from disk, so they load up front.
#: The code cannot import them itself (they are not in its allowlist).
LAZY_IMPORTS: tuple[str, ...] = (
    "heapq", "_strptime", "copy", "locale", "calendar", "unicodedata",
    "encodings.ascii", "encodings.latin_1", "encodings.utf_16", "encodings.utf_32",
    "encodings.idna", "encodings.unicode_escape", "encodings.raw_unicode_escape",
)  # fmt: skip

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


def frame_bytes(payload: object) -> bytes:
    """One length-prefixed JSON frame."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


def write_frame(fd: int, payload: object) -> None:
    """Write one length-prefixed JSON frame to ``fd``."""
    view = memoryview(frame_bytes(payload))
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


def _public_name(name: object) -> str:
    """``name`` when every dotted part of it is public; AttributeError otherwise."""
    if not isinstance(name, str) or any(part.strip().startswith("_") for part in name.split(".")):
        raise AttributeError(f"{name!r} is not a public attribute name")
    return name


def _checked_operator(view: ModuleView) -> None:
    """``attrgetter``/``methodcaller`` that refuse private and dunder names at call time."""
    attrgetter, methodcaller = view.attrgetter, view.methodcaller

    def checked_attrgetter(*names: str) -> Any:
        return attrgetter(*[_public_name(n) for n in names])

    def checked_methodcaller(name: str, /, *args: Any, **kwargs: Any) -> Any:
        if _public_name(name) in ("format", "format_map"):
            raise AttributeError("methodcaller of a formatting method is not allowed")
        return methodcaller(name, *args, **kwargs)

    view.attrgetter, view.methodcaller = checked_attrgetter, checked_methodcaller


def _checked_string(view: ModuleView) -> None:
    """A ``string.Formatter`` whose fields cannot reach private or dunder attributes."""

    class Formatter(view.Formatter):  # type: ignore[name-defined]
        def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
            if field_name.startswith("_") or "._" in field_name.replace(" ", ""):
                raise AttributeError("format fields may not reach private attributes")
            return super().get_field(field_name, args, kwargs)

    view.Formatter = Formatter


def module_views(
    modules: dict[str, types.ModuleType], allowed: frozenset[str]
) -> dict[str, ModuleView]:
    """Views of every preloaded module, with the attribute-by-name helpers checked."""
    views: dict[str, ModuleView] = {}
    for name in sorted(modules):
        module_view(modules[name], allowed, views)
    if "operator" in views:
        _checked_operator(views["operator"])
    if "string" in views:
        _checked_string(views["string"])
    return views


def restricted_builtins(
    allowed: frozenset[str], views: dict[str, ModuleView], output: BoundedOutput
) -> dict[str, Any]:
    """The builtins the code sees: no files, no reflection, no dynamic code, guarded import.

    The guarded import closes over module *views* only, never over module objects.
    """
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS if hasattr(builtins, name)}

    def guarded_import(
        name: str,
        globals: object = None,
        locals: object = None,
        fromlist: tuple[str, ...] | None = (),
        level: int = 0,
    ) -> ModuleView:
        if level == 0 and name in LAZY_IMPORTS:
            # C code (datetime.strptime) imports through the caller's __import__, then
            # takes the module from sys.modules itself: say yes, hand out nothing.
            return ModuleView()
        top = name.split(".")[0]
        if level != 0 or top not in allowed or name not in views:
            raise ImportError(f"import of {name!r} is not allowed in the sandbox")
        return views[name if fromlist else top]

    def sandbox_print(*args: object, sep: str | None = " ", end: str | None = "\n") -> None:
        output.write((" " if sep is None else str(sep)).join(str(a) for a in args))
        output.write("\n" if end is None else str(end))

    safe["__import__"] = guarded_import
    safe["__build_class__"] = builtins.__build_class__
    safe["print"] = sandbox_print
    return safe


# -- isolation -----------------------------------------------------------------------

#: System calls the worker may never make, whatever the namespaces give it.
DENIED_SYSCALLS: tuple[str, ...] = (
    # other processes' memory and execution
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal",
    # kernel keyrings (shared with the host: no namespace for them)
    "keyctl", "add_key", "request_key",
    # SysV and POSIX IPC, refused even inside a private IPC namespace
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr",
    # sockets: no channel to a sibling, even an abstract one in a shared namespace
    "socket", "socketpair",
    # namespaces, mounts, roots
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr", "open_by_handle_at",
    "name_to_handle_at",
    # the kernel itself
    "personality", "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "syslog", "iopl", "ioperm", "lookup_dcookie", "fanotify_init",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "clone3",
)  # fmt: skip

#: Signal-sending calls, refused outright: the code has no one to signal, not even itself.
SIGNAL_SYSCALLS: tuple[str, ...] = ("kill", "tkill", "tgkill", "rt_sigqueueinfo",
                                    "rt_tgsigqueueinfo")  # fmt: skip
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def compile_seccomp() -> bytes | None:
    """The worker's system-call filter as a BPF program, built once by the server.

    libseccomp builds it (with the architecture check that kills other ABIs); loading
    the finished program in each worker costs a system call instead of a compilation.
    None when libseccomp or its binding is missing.
    """
    if pyseccomp is None:
        return None
    try:
        refuse = pyseccomp.ERRNO(1)  # EPERM: the code sees an ordinary OSError
        rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        for name in (*DENIED_SYSCALLS, *SIGNAL_SYSCALLS):
            with contextlib.suppress(Exception):  # a call this kernel/arch does not have
                rules.add_rule(refuse, name)
        # clone: a thread or fork is already stopped by RLIMIT_NPROC; never a new namespace.
        for flag in (*NAMESPACES.values(), CLONE_NEWUSER):
            for bit in (b for b in range(32) if flag & (1 << b)):
                bit_set = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, 1 << bit, 1 << bit)
                rules.add_rule(refuse, "clone", bit_set)
        # new limits: the hard limits set for the execution stay
        rules.add_rule(refuse, "prlimit64", pyseccomp.Arg(2, pyseccomp.NE, 0))
        rules.add_rule(refuse, "setrlimit")
        with tempfile.TemporaryFile() as program:
            rules.export_bpf(program)
            program.seek(0)
            return program.read()
    except Exception:
        return None


def load_seccomp(program: bytes | None) -> bool:
    """Install ``program`` on this process (needs ``no_new_privs``); False when impossible."""
    if not program:
        return False
    code = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(code, ctypes.c_void_p))
    return bool(libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0)


def _drop_capabilities() -> bool:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    return bool(libc().capset(header, data) == 0)


def server_namespaces(disabled: frozenset[str]) -> dict[str, Any]:
    """Enter a user namespace when not root, so that executions can have namespaces too."""
    c = libc()
    c.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if os.geteuid() == 0 or "user_namespace" in disabled:
        return {"user_namespace": False}
    return {"user_namespace": c.unshare(CLONE_NEWUSER) == 0}


def enter_namespaces(disabled: frozenset[str]) -> dict[str, bool]:
    """Unshare every namespace of :data:`NAMESPACES` the kernel allows; report which."""
    c = libc()
    wanted = {name: flag for name, flag in NAMESPACES.items() if name not in disabled}
    everything = 0
    for flag in wanted.values():
        everything |= flag
    if everything and c.unshare(everything) == 0:
        return {name: name in wanted for name in NAMESPACES}
    return {name: name in wanted and c.unshare(flag) == 0 for name, flag in NAMESPACES.items()}


def isolate_worker(
    limits: dict[str, Any], granted: dict[str, Any], seccomp: bytes | None
) -> dict[str, Any]:
    """Confine the worker (its working directory already the empty root) before the code runs.

    Returns what was achieved.
    """
    statm = open("/proc/self/statm").read().split()  # noqa: SIM115 (before chroot)
    baseline = int(statm[0]) * resource.getpagesize()
    report: dict[str, Any] = dict(granted, chroot=False, uid=os.geteuid(), uid_dropped=False)
    try:
        os.chroot(".")
        os.chdir("/")
        report["chroot"] = True
    except OSError:
        pass  # the working directory stays the empty root
    memory = baseline + int(limits["memory_mb"]) * 1024 * 1024
    cpu = max(1, int(-(-float(limits["cpu_seconds"]) // 1)))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Soft = hard: PID 1 of a namespace ignores SIGXCPU, so the limit is the kernel's SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (RESULT_FD + 1, RESULT_FD + 1))
    if os.geteuid() == 0 and not granted["user_namespace"]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        report["uid_dropped"] = True
    else:
        report["capabilities_dropped"] = _drop_capabilities()
    # Set after the uid change, which clears it: dies with its keeper, whatever kills it.
    libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    report["seccomp"] = load_seccomp(seccomp)
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


# -- the worker: the only process that ever holds the request ------------------------


def run_worker(
    handoff: socket.socket, root_fd: int, granted: dict[str, Any], server: dict[str, Any]
) -> NoReturn:
    """Body of the worker: wait for its pipes, read its request, isolate, run, report.

    It waits on ``handoff`` for the two descriptors of one execution; the server
    closing it instead (shutting down) ends the worker quietly. The views of the
    server's preloaded modules are built while waiting. Never returns.
    """
    try:
        preloaded = frozenset(server["preload"])
        ready_views = module_views(preload(sorted(preloaded)), preloaded)
        _, fds, _, _ = socket.recv_fds(handoff, 16, 2)
        handoff.close()
    except BaseException:
        os._exit(0)
    if len(fds) != 2:
        os._exit(0)
    request_fd, result_fd = fds
    try:
        request = read_frame(request_fd)
        os.close(request_fd)
        limits = request["limits"]
        allowed = frozenset(limits["allowed_modules"])
        if allowed == preloaded:
            views = ready_views
        else:
            views = module_views(preload(sorted(allowed)), allowed)
        del ready_views
        data = json.loads(request["data"])
        code = request["code"]
        del request
        os.fchdir(root_fd)
        _private_descriptors(result_fd)
        isolation = isolate_worker(limits, granted, server["seccomp"])
        output = BoundedOutput(int(limits["max_output_bytes"]))
        sys.stdout = sys.stderr = output
        namespace: dict[str, Any] = {
            "__builtins__": restricted_builtins(allowed, views, output),
            "__name__": "__sandbox__",
            "data": data,
        }
        del views, data
        write_frame(RESULT_FD, {"isolation": isolation})
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            write_frame(RESULT_FD, {"isolation": None, "setup_error": repr(exc)})
        os._exit(70)
    outcome = _execute(code, namespace, output)
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


# -- the keeper: new namespaces, one worker, its exit status -------------------------


def run_keeper(handoff: socket.socket, root_fd: int, server: dict[str, Any]) -> NoReturn:
    """Unshare the namespaces, fork the worker (PID 1 there), pass its exit status up.

    A signal that ended the worker comes back as exit status ``128 + signal``.
    """
    try:
        os.setsid()  # signals to the server's process group never reach executions
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        granted = dict(server["granted"], **enter_namespaces(server["disabled"]))
        worker = os.fork()
        if worker == 0:
            run_worker(handoff, root_fd, granted, server)
        # The server's wall-clock stop: the keeper alone knows the worker's pid.
        signal.signal(signal.SIGTERM, lambda *_: os.kill(worker, signal.SIGKILL))
        os.closerange(0, 1 << 20)
        _, status = os.waitpid(worker, 0)
    except BaseException:
        os._exit(70)
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) & 0x7F)


# -- the server: fork on command, measure, never touch a request ---------------------


def probe_namespaces(disabled: frozenset[str]) -> dict[str, bool]:
    """Which namespaces an execution will get, asked of the kernel in a throwaway child."""
    names = list(NAMESPACES)
    child = os.fork()
    if child == 0:
        granted = enter_namespaces(disabled)
        os._exit(sum(1 << i for i, name in enumerate(names) if granted[name]))
    _, status = os.waitpid(child, 0)
    bits = os.waitstatus_to_exitcode(status)
    return {name: bits >= 0 and bool(bits & (1 << i)) for i, name in enumerate(names)}


class StandbyLost(RuntimeError):
    """The worker forked ahead ended before its request came (killed from outside)."""


def run_direct_worker(
    handoff: socket.socket, root_fd: int, server: dict[str, Any], pid_namespace: bool
) -> NoReturn:
    """A worker forked by the server itself (already PID 1 when ``pid_namespace``)."""
    try:
        os.setsid()  # signals to the server's process group never reach executions
        granted = dict(
            server["granted"], **enter_namespaces(server["disabled"] | {"pid_namespace"})
        )
        granted["pid_namespace"] = pid_namespace
    except BaseException:
        os._exit(70)
    run_worker(handoff, root_fd, granted, server)


def can_return_pid_namespace(own: int) -> bool:
    """Whether this process may unshare a PID namespace for a child, then set its own back.

    True as root: each worker is then the server's own child (one process, not two).
    In a user namespace the original PID namespace is out of reach, hence the keeper.
    """
    child = os.fork()
    if child == 0:
        c = libc()
        os._exit(0 if c.unshare(CLONE_NEWPID) == 0 and c.setns(own, CLONE_NEWPID) == 0 else 1)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


class Standby:
    """A worker forked ahead of the next request, waiting for its pipes.

    Namespaces and forks cost milliseconds; making them between requests keeps them
    off the request's path. The worker still holds nothing but a copy of the
    pristine server, and it receives only the descriptors of its own execution.
    As root the worker is the server's child, forked into a fresh PID namespace
    (the server then sets its own back); otherwise a keeper makes the namespaces and
    forks it, and ``pid`` is the keeper's.
    """

    def __init__(self, channel: socket.socket, root_fd: int, server: dict[str, Any]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.direct = bool(server["direct"])
        pid_namespace = False
        if self.direct and "pid_namespace" not in server["disabled"]:
            pid_namespace = libc().unshare(CLONE_NEWPID) == 0
        self.pid = os.fork()
        if self.pid == 0:
            channel.close()  # only the server talks to the parent
            ours.close()
            if self.direct:
                run_direct_worker(theirs, root_fd, server, pid_namespace)
            run_keeper(theirs, root_fd, server)
        if pid_namespace and libc().setns(server["own_pid_namespace"], CLONE_NEWPID) != 0:
            server["direct"] = False  # never fork a later worker into this one's namespace
        theirs.close()
        self.handoff = ours

    def discard(self) -> None:
        """End the waiting worker (it sees the hand-off socket close) and reap it."""
        self.handoff.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def run(self, fds: list[int], wall_seconds: float) -> dict[str, Any]:
        """Hand the pipes over and report how the execution ended, measured from outside."""
        started = time.perf_counter()
        try:
            socket.send_fds(self.handoff, [b"run"], fds)
        except OSError as exc:
            raise StandbyLost(f"the standby worker is gone: {exc}") from exc
        finally:
            self.handoff.close()
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(self.pid)
        ready, _, _ = select.select([pidfd], [], [], wall_seconds)
        if not ready and self.direct:
            os.kill(self.pid, signal.SIGKILL)
        elif not ready:
            os.kill(self.pid, signal.SIGTERM)  # the keeper kills the worker, then ends
            if not select.select([pidfd], [], [], KEEPER_GRACE_SECONDS)[0]:
                os.kill(self.pid, signal.SIGKILL)  # the worker follows: parent-death signal
        os.close(pidfd)
        _, status, usage = os.wait4(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if not self.direct and code > 128:  # the keeper's way of passing a signal on
            code = -(code - 128)
        return {
            "duration_ms": (time.perf_counter() - started) * 1000,
            "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
            "max_rss_kb": usage.ru_maxrss,
            "exit_code": code,
            "killed": not ready,
        }


def serve(
    channel: socket.socket, once: bool, disabled: frozenset[str], preloaded: list[str]
) -> None:
    """Answer spawn commands (with their two descriptors) on ``channel`` until it closes.

    ``disabled`` names namespaces not to use (to run, and test, a degraded mode).
    """
    # The workers' root: an empty directory, deleted at once and kept open, so nothing can
    # ever be created in it and nothing is left behind, however the server ends. Made
    # before entering a user namespace, where an unmapped uid cannot create files.
    root = tempfile.mkdtemp(prefix="agentic-sandbox-root-")
    os.chmod(root, 0o555)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    os.rmdir(root)
    own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY)
    granted = server_namespaces(disabled)
    seccomp = None if "seccomp" in disabled else compile_seccomp()
    server = {
        "granted": granted,
        "disabled": disabled,
        "seccomp": seccomp,
        "preload": preloaded,
        "own_pid_namespace": own_pid_namespace,
        "direct": "pid_namespace" in disabled or can_return_pid_namespace(own_pid_namespace),
    }
    standby: Standby | None = None
    try:
        ready = {"ready": True, "pid": os.getpid(), **granted, **probe_namespaces(disabled)}
        channel.send(json.dumps({**ready, "seccomp": seccomp is not None}).encode())
        standby = Standby(channel, root_fd, server)
        while True:
            message, fds, _, _ = socket.recv_fds(channel, 65536, 2)
            if not message:
                return
            try:
                if len(fds) != 2:
                    raise ValueError("a spawn command carries exactly two descriptors")
                wall_seconds = float(json.loads(message)["wall_seconds"])
                try:
                    report = standby.run(fds, wall_seconds)
                except StandbyLost:
                    standby.discard()
                    standby = Standby(channel, root_fd, server)
                    report = standby.run(fds, wall_seconds)
            except Exception as exc:  # the server must survive a bad command
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                standby.discard()
                report = {"server_error": f"{type(exc).__name__}: {exc}"}
            channel.send(json.dumps(report).encode())
            if once:
                return
            standby = Standby(channel, root_fd, server)
    finally:
        if standby is not None:
            standby.discard()


def main(argv: list[str]) -> None:
    """``runner.py [--once] [--preload mod,…] [--disable name,…] [--user uid]``, channel on fd 0.

    ``--user``: a runner started as root serves as that uid instead, once the modules
    are loaded (what a deployment that does not run as root gets).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc()
    once = "--once" in argv

    def listed(option: str) -> list[str]:
        return [n for n in argv[argv.index(option) + 1].split(",") if n] if option in argv else []

    preloaded = listed("--preload")
    preload(preloaded)
    preload(list(LAZY_IMPORTS))
    if "--user" in argv:
        uid = int(argv[argv.index("--user") + 1])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    channel = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    serve(channel, once, frozenset(listed("--disable")), preloaded)


if __name__ == "__main__":
    main(sys.argv[1:])
