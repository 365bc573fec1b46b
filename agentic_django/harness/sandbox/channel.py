"""The parent's side of a runner process: start it, exchange frames, kill it."""

from __future__ import annotations

import json
import os
import select
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

    ``once=True`` runs a single request then exits (the subprocess backend);
    otherwise it is a long-lived fork server.
    """

    def __init__(self, *, preload: Sequence[str] = (), once: bool = False) -> None:
        self.preload = tuple(preload)
        self.once = once
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        """Launch the process and wait for its ready frame."""
        command = [sys.executable, "-I", RUNNER_PATH]
        if self.once:
            command.append("--once")
        if self.preload:
            command += ["--preload", ",".join(self.preload)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            cwd="/",
            close_fds=True,
            start_new_session=True,
            bufsize=0,
        )
        self.info = self._read(time.monotonic() + timeout)

    def exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and wait up to ``timeout`` seconds for its report."""
        if self.process is None or self.process.stdin is None:
            raise RunnerUnavailable("runner not started")
        deadline = time.monotonic() + timeout
        try:
            runner.write_frame(self.process.stdin.fileno(), request)
        except OSError as exc:
            raise RunnerUnavailable(f"runner is gone: {exc}") from exc
        report = self._read(deadline)
        if not isinstance(report, dict):
            raise RunnerUnavailable("runner answered with a malformed report")
        return report

    def close(self, timeout: float = 2.0) -> None:
        """Ask the process to exit (EOF on its input); kill it if it does not."""
        process = self.process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if process.stdout is not None:
            process.stdout.close()
        self.process = None

    def kill(self) -> None:
        """Kill the process now and reap it."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        self.process = None

    def _read(self, deadline: float) -> Any:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        header = self._read_exact(fd, runner.HEADER.size, deadline)
        (size,) = runner.HEADER.unpack(header)
        return json.loads(self._read_exact(fd, size, deadline))

    def _read_exact(self, fd: int, size: int, deadline: float) -> bytes:
        buffer = bytearray()
        while len(buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunnerUnavailable("runner did not answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, size - len(buffer))
            if not chunk:
                raise RunnerUnavailable("runner exited")
            buffer += chunk
        return bytes(buffer)
