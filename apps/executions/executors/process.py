"""Running a subprocess for a step: its own process group, output read line by line, timeouts and cancel."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

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


READ_SIZE = 64 * 1024
# Without a pidfd (not Linux), how often the loop looks whether the process ended.
POLL_INTERVAL = 0.05


class _Pipe:
    """One output pipe: bytes are handed to the sink in whole lines (or MAX_LINE pieces of a longer one),
    so a multi-byte character is never cut in two between reads."""

    def __init__(self, fd: int, stream: str, sink: LogSink) -> None:
        self.fd = fd
        self.stream = stream
        self.sink = sink
        self.pending = b""

    def read(self) -> bool:
        """Read what is there; False at end of file (the rest is handed over then)."""
        chunk = os.read(self.fd, READ_SIZE)
        if not chunk:
            if self.pending:
                self.sink.write_chunk(self.stream, self.pending)
                self.pending = b""
            return False
        data = self.pending + chunk
        end = data.rfind(b"\n") + 1
        if end:
            self.sink.write_chunk(self.stream, data[:end])
            data = data[end:]
        while len(data) >= MAX_LINE:
            self.sink.write_chunk(self.stream, data[:MAX_LINE])
            data = data[MAX_LINE:]
        self.pending = data
        return True


def _exit_fd(pid: int) -> int | None:
    """A descriptor that becomes readable when the process ends (Linux pidfd), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


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
        with self.process.stdout, self.process.stderr, selectors.DefaultSelector() as selector:
            for pipe, stream in ((self.process.stdout, LogStream.STDOUT), (self.process.stderr, LogStream.STDERR)):
                selector.register(pipe.fileno(), selectors.EVENT_READ, _Pipe(pipe.fileno(), stream, sink))
            timed_out = self._follow(selector, ctx, sink)
            # Whatever the step left running in its group (background jobs, grandchildren) ends
            # with it; they would otherwise hold the pipes open and outlive the step.
            self._signal(signal.SIGKILL)
            while selector.get_map():
                for key, _ in selector.select():
                    if not key.data.read():
                        selector.unregister(key.fd)
        code = self.process.returncode
        if timed_out:
            return StepResult(StepStatus.TIMED_OUT, exit_code=code, error=f"timed out after {ctx.timeout:g} s")
        if self.canceled.is_set():
            return StepResult(StepStatus.CANCELED, exit_code=code, error="canceled")
        if code == 0:
            return StepResult(StepStatus.SUCCESS, exit_code=0)
        return StepResult(StepStatus.FAILED, exit_code=code, error=f"exited with code {code}")

    def _follow(self, selector: selectors.BaseSelector, ctx: StepContext, sink: LogSink) -> bool:
        """Read the pipes in this thread until the process ends; True when it ran out of time.

        A process past its timeout gets SIGTERM, then SIGKILL after the grace period; its output is
        read meanwhile, so a step that prints while it cleans up cannot block on a full pipe.
        """
        assert self.process is not None
        process = self.process
        deadline = time.monotonic() + ctx.timeout if ctx.timeout is not None else None
        kill_at: float | None = None  # SIGKILL is due then, once SIGTERM went out at the deadline
        timed_out = False
        exit_fd = _exit_fd(process.pid)
        if exit_fd is not None:
            selector.register(exit_fd, selectors.EVENT_READ, None)
        try:
            while process.poll() is None:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    sink.write(LogStream.SYSTEM, f"step timed out after {ctx.timeout:g} s; stopping its process group")
                    self.canceled.set()
                    self._signal(signal.SIGTERM)
                    timed_out, deadline, kill_at = True, None, now + CANCEL_GRACE
                elif kill_at is not None and now >= kill_at:
                    self._signal(signal.SIGKILL)
                    kill_at = None
                due = deadline if deadline is not None else kill_at
                timeout = None if due is None else max(due - now, 0.0)
                if exit_fd is None:
                    timeout = POLL_INTERVAL if timeout is None else min(timeout, POLL_INTERVAL)
                for key, _ in selector.select(timeout):
                    if key.data is None:
                        # Ended: reap it (a cancel from the heartbeat thread may be reaping it too).
                        process.wait()
                    elif not key.data.read():
                        selector.unregister(key.fd)
        finally:
            if exit_fd is not None:
                selector.unregister(exit_fd)
                os.close(exit_fd)
        return timed_out
