"""The executor contract: one small class per step kind, found through a registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..choices import StepStatus
from ..engine.logsink import LogSink


@dataclass
class StepContext:
    """Everything an executor may use; built by the runner, never by the executor."""

    execution_id: int
    step_pk: int
    step_id: str
    attempt: int
    spec: dict[str, Any]  # the normalised step from the pipeline version
    params: dict[str, Any]  # the step's `with`, expressions rendered
    env: dict[str, str]  # inputs, vars, matrix, the step's env and its secrets
    expressions: dict[str, Any]  # the expression context, for executors that render more
    workspace: Path
    output_file: Path  # the step appends name=value lines here ($ANSFLOW_OUTPUT)
    timeout: float | None
    secrets: list[str] = field(default_factory=list)
    cancel_event: threading.Event = field(default_factory=threading.Event)


@dataclass
class StepResult:
    """``status`` is a StepStatus value; ``outputs`` are validated against the declared names."""

    status: str
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    error: str = ""


class Executor:
    """Base class. ``run`` blocks until the step ends, writing output to ``sink``.

    ``cancel`` is called from another thread when the step is canceled or lost;
    ``run`` must then return promptly (the runner records the status).
    """

    kind: ClassVar[str] = ""

    def prepare(self, ctx: StepContext) -> None:
        """Validate and set up before ``run`` (e.g. write files into the workspace)."""

    def run(self, ctx: StepContext, sink: LogSink) -> StepResult:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the running step (kill its process group, delete its remote job...)."""


class Stopped(Exception):
    """The step was canceled or ran out of time while it waited on something remote."""


class StoppableStep(Executor):
    """Base of the kinds whose work is remote (a Docker Engine, a cluster), so there is no process group for
    the runner to kill: the step timeout is a timer here, and cancel or timeout set ``stop`` and call
    :meth:`on_stop` from the other thread, which ends open streams or deletes remote objects. The work, run
    through :meth:`until_stopped`, raises :class:`Stopped` when it notices; the status then says why.
    """

    def __init__(self) -> None:
        self.canceled = threading.Event()
        self.timed_out = threading.Event()
        self.stop = threading.Event()  # either of the two: wakes every wait
        self.deadline: float | None = None

    def until_stopped(self, ctx: StepContext, work: Callable[[], StepResult]) -> StepResult:
        """``work()`` under the step timeout; timed out or canceled wins over what it returned."""
        timer = threading.Timer(ctx.timeout, self._expire) if ctx.timeout else None
        if timer is not None:
            self.deadline = time.monotonic() + float(ctx.timeout or 0)
            timer.daemon = True
            timer.start()
        try:
            result = work()
        except Stopped:
            result = StepResult(StepStatus.FAILED)
        finally:
            if timer is not None:
                timer.cancel()
        if self.timed_out.is_set():
            return StepResult(
                StepStatus.TIMED_OUT, exit_code=result.exit_code, error=f"timed out after {ctx.timeout:g} s"
            )
        if self.canceled.is_set():
            return StepResult(StepStatus.CANCELED, exit_code=result.exit_code, error="canceled")
        return result

    def checkpoint(self) -> None:
        """Raises :class:`Stopped` once the step is canceled or out of time (call between requests)."""
        if self.stop.is_set():
            raise Stopped

    def pause(self, seconds: float) -> None:
        """Sleep, but no longer than the step may run; raises :class:`Stopped` on cancel or timeout."""
        if self.stop.wait(seconds):
            raise Stopped

    def remaining(self, default: float = 3600.0) -> float:
        """Seconds left before the step timeout (``default`` without one)."""
        return max(self.deadline - time.monotonic(), 0.0) if self.deadline is not None else default

    def _expire(self) -> None:
        self.timed_out.set()
        self.stop.set()
        self.on_stop()

    def cancel(self) -> None:
        self.canceled.set()
        self.stop.set()
        self.on_stop()

    def on_stop(self) -> None:
        """Called from another thread on cancel or timeout: end open streams, delete remote objects."""


REGISTRY: dict[str, type[Executor]] = {}


def register(cls: type[Executor]) -> type[Executor]:
    REGISTRY[cls.kind] = cls
    return cls


def executor_for(kind: str) -> Executor:
    from . import load_all

    load_all()
    try:
        return REGISTRY[kind]()
    except KeyError:
        raise LookupError(f"no executor for step type {kind!r}") from None
