"""Error types of the pipeline language: issues found in a document, bad run inputs, bad expressions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathPart = str | int
Path = tuple[PathPart, ...]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(path: Sequence[PathPart]) -> str:
    """Render a document path as a JSON-path-like string: ``spec.steps[2].needs[0]``, ``labels['a.b']``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{part!r}]")
    return "".join(out)


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a pipeline document, located by its path and (when known) its 1-based line and column."""

    path: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = self.path or "(document)"
        if self.line is not None:
            where += f" (line {self.line}, column {self.column})"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "column": self.column, "message": self.message}


class SpecError(ValueError):
    """A pipeline document is invalid; ``errors`` lists every issue found, in document order."""

    def __init__(self, errors: Iterable[SpecIssue]) -> None:
        self.errors: list[SpecIssue] = list(errors)
        super().__init__(self._summary())

    def _summary(self) -> str:
        count = len(self.errors)
        head = f"invalid pipeline: {count} error{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  {issue}" for issue in self.errors)])


class InputError(ValueError):
    """Run inputs do not match the pipeline's input declarations; ``errors`` maps input name to message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        detail = "; ".join(f"{name}: {message}" for name, message in self.errors.items())
        super().__init__(f"invalid inputs: {detail}")


class ExpressionError(ValueError):
    """An expression or template could not be parsed or evaluated (syntax error, unknown name, unsafe operation)."""
