"""Running a subprocess for a step: its own process group, output read line by line, timeouts and cancel."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..choices import LogStream, StepStatus
from ..engine.logsink import MAX_LINE, LogSink
from .base import StepContext, StepResult

CANCEL_GRACE = 5.0

# The step's process sees only these of the worker's variables, plus its own.
INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def step_environment(ctx: StepContext, output_file: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["HOME"] = str(ctx.workspace)
    env.update(ctx.env)
    env["ANSFLOW_WORKSPACE"] = str(ctx.workspace)
    env["ANSFLOW_OUTPUT"] = str(output_file)
    return env


def _pump(pipe: IO[bytes], stream: str, sink: LogSink) -> None:
    with pipe:
        for chunk in iter(lambda: pipe.readline(MAX_LINE), b""):
            sink.write_chunk(stream, chunk)


class ProcessRun:
    """One subprocess in a new session; ``kill`` signals the whole group (grandchildren included)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.canceled = threading.Event()

    def kill(self) -> None:
        """SIGTERM the group, then SIGKILL after a grace period."""
        self.canceled.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            process.wait(timeout=CANCEL_GRACE)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def run(self, argv: Sequence[str], ctx: StepContext, sink: LogSink, env: dict[str, str]) -> StepResult:
        self.process = subprocess.Popen(
            list(argv),
            cwd=ctx.workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        readers = [
            threading.Thread(target=_pump, args=(self.process.stdout, LogStream.STDOUT, sink), daemon=True),
            threading.Thread(target=_pump, args=(self.process.stderr, LogStream.STDERR, sink), daemon=True),
        ]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            self.process.wait(timeout=ctx.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            sink.write(LogStream.SYSTEM, f"step timed out after {ctx.timeout:g} s; stopping its process group")
            self.kill()
            self.process.wait()
        # Whatever the step left running in its group (background jobs, grandchildren) ends
        # with it; they would otherwise hold the pipes open and outlive the step.
        self._signal(signal.SIGKILL)
        for reader in readers:
            reader.join()
        code = self.process.returncode
        if timed_out:
            return StepResult(StepStatus.TIMED_OUT, exit_code=code, error=f"timed out after {ctx.timeout:g} s")
        if self.canceled.is_set():
            return StepResult(StepStatus.CANCELED, exit_code=code, error="canceled")
        if code == 0:
            return StepResult(StepStatus.SUCCESS, exit_code=0)
        return StepResult(StepStatus.FAILED, exit_code=code, error=f"exited with code {code}")
