"""``shell``: a bash script (``run``) executed in the execution's workspace."""

from .base import StepKind, empty_with_schema

KIND = StepKind(
    name="shell",
    description="Runs the `run` script with bash (-eo pipefail) in the execution's workspace.",
    run="required",
    with_schema=empty_with_schema("shell steps take no `with` options"),
)
