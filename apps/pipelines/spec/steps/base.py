"""What a step kind declares: whether it takes ``run``, the JSON Schema of its ``with`` and how to normalise it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..durations import parse_duration
from ..errors import Path
from ..report import Issues


class WithCheck:
    """Reports problems inside one step's ``with`` mapping, located under its document path."""

    def __init__(self, issues: Issues, path: Path) -> None:
        self.issues = issues
        self.path = path

    def error(self, suffix: Path, message: str) -> None:
        self.issues.add_semantic((*self.path, *suffix), message)

    def duration(self, value: Any, suffix: Path, *, positive: bool = True) -> float | None:
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(suffix, str(exc))
            return None
        if positive and seconds <= 0:
            self.error(suffix, "must be longer than zero")
            return None
        return seconds


def _keep(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    return dict(with_)


def _no_outputs(with_: dict[str, Any]) -> list[str]:
    return []


@dataclass(frozen=True)
class StepKind:
    """One step type (``shell``, ``http``...): its schema and its normalisation, used by the parser.

    ``normalise`` receives the step's ``with`` mapping (already checked against ``with_schema``, but it must
    tolerate malformed values because every error is collected before giving up) and returns it with defaults
    filled in. ``outputs`` names the outputs the ``with`` mapping declares by itself (e.g. http's JSON paths).
    ``literal_fields`` are top-level ``with`` keys whose strings are not templates.
    """

    name: str
    description: str
    run: Literal["required", "optional", "forbidden"]
    with_schema: dict[str, Any]
    normalise: Callable[[dict[str, Any], WithCheck], dict[str, Any]] = _keep
    outputs: Callable[[dict[str, Any]], list[str]] = _no_outputs
    literal_fields: frozenset[str] = field(default_factory=frozenset)


def empty_with_schema(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "properties": {}, "additionalProperties": False}
