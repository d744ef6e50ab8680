"""``shell``: a bash script (``-eo pipefail``); inputs, variables and secrets arrive as environment variables."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from ..engine.logsink import LogSink
from .base import Executor, StepContext, StepResult, register
from .process import ProcessRun, step_environment


@register
class ShellExecutor(Executor):
    kind = "shell"
    interpreter = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
    suffix = ".sh"

    def __init__(self) -> None:
        self.proc = ProcessRun()

    def run(self, ctx: StepContext, sink: LogSink) -> StepResult:
        # The script is the pipeline author's text, written to a file as is: values reach it
        # only through the environment, never by pasting them into the command.
        script = script_file(ctx.output_file.parent, ctx.spec.get("run") or "", self.suffix)
        return self.proc.run([*self.command(), str(script)], ctx, sink, step_environment(ctx, ctx.output_file))

    def command(self) -> list[str]:
        return list(self.interpreter)

    def cancel(self) -> None:
        self.proc.kill()


def script_file(directory: Path, text: str, suffix: str) -> Path:
    """The script in ``directory``, named by its content and written once.

    The steps of a run that share a script (a matrix, a fan-out) share its file, so most of them
    create no file. It appears complete or not at all (written aside, then renamed), so a step
    that finds it there never runs half a script that another worker is still writing.
    """
    data = text.encode()
    path = directory / f"script-{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    if not path.exists():
        aside = directory / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
        aside.write_bytes(data)
        os.replace(aside, path)
    return path
