"""The parent's side of a runner process: start it, spawn executions, read their reports.

The runner (a fork server, or a one-shot runner) only ever receives "spawn"
commands: the parent makes a request pipe and a result pipe per execution and
hands one end of each to the runner over a Unix socket. The request goes from
this process straight to the forked worker, and the worker's report comes
straight back here, so the fork server never holds any request's code, data or
result. The runner answers each spawn with how the execution ended (exit status,
CPU, memory, wall-clock kill), measured from outside the worker.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentic_django.harness.sandbox import runner

RUNNER_PATH = str(Path(runner.__file__).resolve())


class RunnerUnavailable(RuntimeError):
    """The runner process died or stopped answering."""


class RunnerProcess:
    """One ``python -I runner.py`` process with an empty environment.

    ``once=True`` runs a single execution then exits (the subprocess backend);
    otherwise it is a long-lived fork server. ``disable`` names protections the
    runner must not use (an explicit degraded mode, for hosts and tests); ``run_as``
    makes a runner started as root serve as that uid.
    """

    def __init__(
        self,
        *,
        preload: Sequence[str] = (),
        once: bool = False,
        disable: Sequence[str] = (),
        run_as: int | None = None,
    ) -> None:
        self.preload = tuple(preload)
        self.once = once
        self.disable = tuple(disable)
        self.run_as = run_as
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: socket.socket | None = None
        self.info: dict[str, Any] = {}

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        """Launch the process and wait for its ready message."""
        command = [sys.executable, "-I", RUNNER_PATH]
        if self.once:
            command.append("--once")
        if self.preload:
            command += ["--preload", ",".join(self.preload)]
        if self.disable:
            command += ["--disable", ",".join(self.disable)]
        if self.run_as is not None:
            command += ["--user", str(int(self.run_as))]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                command,
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                cwd="/",
                close_fds=True,
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.channel = ours
        self.info = self._receive(time.monotonic() + timeout)

    def exchange(self, request: dict[str, Any], timeout: float, budget: int) -> dict[str, Any]:
        """Run one request; wait up to ``timeout`` seconds for the runner's verdict.

        At most ``budget`` bytes are read from the worker; past that the result pipe
        is closed and the report says ``overflow``.
        """
        if self.channel is None:
            raise RunnerUnavailable("runner not started")
        deadline = time.monotonic() + timeout
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            command = json.dumps({"wall_seconds": request["limits"]["wall_seconds"]}).encode()
            socket.send_fds(self.channel, [command], [request_read, result_write])
        except OSError as exc:
            for fd in (request_read, request_write, result_read, result_write):
                os.close(fd)
            raise RunnerUnavailable(f"runner is gone: {exc}") from exc
        os.close(request_read)
        os.close(result_write)
        opened = {request_write, result_read}
        try:
            raw, overflow, status = self._pump(
                runner.frame_bytes(request), request_write, result_read, deadline, budget, opened
            )
        finally:
            for fd in opened:
                os.close(fd)
        return {**status, "overflow": overflow, **judge_frames(raw)}

    def _pump(
        self,
        outgoing: bytes,
        request_fd: int,
        result_fd: int,
        deadline: float,
        budget: int,
        opened: set[int],
    ) -> tuple[bytes, bool, dict[str, Any]]:
        """Feed the request, collect the result, and wait for the runner's status.

        Descriptors are closed as soon as they are done with (and removed from
        ``opened``): closing the result pipe is what stops a worker past its budget.
        """
        assert self.channel is not None

        def close(fd: int) -> None:
            opened.discard(fd)
            os.close(fd)

        os.set_blocking(request_fd, False)
        raw = bytearray()
        overflow = False
        status: dict[str, Any] | None = None
        readers: list[Any] = [result_fd, self.channel]
        writers = [request_fd]
        while status is None or result_fd in readers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunnerUnavailable("runner did not answer in time")
            ready_in, ready_out, _ = select.select(readers, writers, [], remaining)
            if request_fd in ready_out:
                try:
                    outgoing = outgoing[os.write(request_fd, outgoing) :]
                except OSError:  # the worker is gone before reading everything
                    outgoing = b""
                if not outgoing:
                    writers.clear()
                    close(request_fd)
            if result_fd in ready_in:
                chunk = os.read(result_fd, 65536)
                raw += chunk
                if not chunk or len(raw) > budget:
                    overflow = overflow or len(raw) > budget
                    readers.remove(result_fd)
                    close(result_fd)  # past the budget: the worker's writes now fail
            if self.channel in ready_in:
                message = self.channel.recv(65536)
                if not message:
                    raise RunnerUnavailable("runner exited")
                status = json.loads(message)
                readers.remove(self.channel)
                if writers:  # the worker ended without reading its request
                    writers.clear()
                    close(request_fd)
        return bytes(raw), overflow, status

    def close(self, timeout: float = 2.0) -> None:
        """Ask the process to exit (EOF on its channel); kill it if it does not."""
        process = self.process
        if process is None:
            return
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def kill(self) -> None:
        """Kill the process now and reap it."""
        process = self.process
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self.process = None

    def _receive(self, deadline: float) -> Any:
        assert self.channel is not None
        ready, _, _ = select.select([self.channel], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise RunnerUnavailable("runner did not start in time")
        message = self.channel.recv(65536)
        if not message:
            raise RunnerUnavailable("runner exited")
        return json.loads(message)


def judge_frames(raw: bytes) -> dict[str, Any]:
    """What the worker wrote: exactly an isolation frame, then an outcome frame."""
    try:
        frames: list[Any] | None = runner.parse_frames(raw)
    except (ValueError, RecursionError):  # malformed, or nested past the parser
        frames = None
    report: dict[str, Any] = {"frames_valid": frames is not None and len(frames) <= 2}
    if frames:
        report["isolation"] = frames[0].get("isolation") if isinstance(frames[0], dict) else None
    if frames is not None and len(frames) == 2 and isinstance(frames[1], dict):
        report["outcome"] = frames[1]
    return report
