"""``python``: a Python script (``run``) executed by the platform's interpreter in a subprocess."""

from .base import StepKind, empty_with_schema

KIND = StepKind(
    name="python",
    description="Runs the `run` script with the platform's Python interpreter in a subprocess.",
    run="required",
    with_schema=empty_with_schema("python steps take no `with` options"),
)
