"""``python``: a script run by the same interpreter as AnsFlow, in its own process group."""

from __future__ import annotations

import sys

from .base import register
from .shell import ShellExecutor


@register
class PythonExecutor(ShellExecutor):
    kind = "python"
    suffix = ".py"

    def command(self) -> list[str]:
        return [sys.executable, "-u"]
