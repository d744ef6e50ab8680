"""The executor contract: one small class per step kind, found through a registry."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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
