"""``shell``: a bash script (``-eo pipefail``); inputs, variables and secrets arrive as environment variables."""

from __future__ import annotations

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
        script = ctx.output_file.with_suffix(self.suffix)
        script.write_text(ctx.spec.get("run") or "")
        return self.proc.run([*self.command(), str(script)], ctx, sink, step_environment(ctx, ctx.output_file))

    def command(self) -> list[str]:
        return list(self.interpreter)

    def cancel(self) -> None:
        self.proc.kill()
