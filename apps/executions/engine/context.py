"""What a step sees: the expression context and the environment of its process."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from apps.pipelines.spec import render_template

from ..models import Execution, StepExecution


def execution_info(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.pk,
        "number": execution.number,
        "pipeline": execution.pipeline.name,
        "project": execution.project.slug,
        "trigger": execution.trigger,
    }


def step_states(execution_id: int, step_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Status and outputs of the given steps (a step's expressions may only name its ancestors)."""
    ids = list(step_ids)
    if not ids:
        return {}
    rows = StepExecution.objects.filter(execution_id=execution_id, step_id__in=ids).values_list(
        "step_id", "status", "outputs"
    )
    return {step_id: {"status": status, "outputs": dict(outputs or {})} for step_id, status, outputs in rows}


class _Context(dict[str, Any]):
    """An expression context whose ``steps`` are read from the database on first use.

    A template sees the context through ``dict(context)``, which goes through ``__getitem__`` here
    (``__iter__`` is overridden so the copy cannot take dict's shortcut), so ``steps`` is a plain dict
    by the time any expression reads it, and a step that renders nothing costs no query.
    """

    def __init__(self, values: dict[str, Any], load_steps: Callable[[], dict[str, dict[str, Any]]]) -> None:
        super().__init__(values, steps=None)
        self._load_steps: Callable[[], dict[str, dict[str, Any]]] | None = load_steps

    def __getitem__(self, key: str) -> Any:
        if key == "steps" and self._load_steps is not None:
            load, self._load_steps = self._load_steps, None
            super().__setitem__("steps", load())
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        return super().__iter__()

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def items(self) -> Any:
        return {key: self[key] for key in self}.items()

    def values(self) -> Any:
        return [self[key] for key in self]

    def copy(self) -> dict[str, Any]:
        return {key: self[key] for key in self}


def expression_context(
    execution: Execution,
    spec: dict[str, Any],
    matrix: dict[str, Any] | None,
    steps: dict[str, dict[str, Any]] | Iterable[str],
) -> dict[str, Any]:
    """``inputs``, ``vars``, ``steps`` (status and outputs), ``execution``, ``matrix``, ``trigger``.

    ``steps`` is the states themselves, or the ids of the steps whose states templates may read, loaded
    with one query only if a template is rendered with this context.
    """
    values: dict[str, Any] = {
        "inputs": dict(execution.inputs),
        "execution": execution_info(execution),
        "matrix": dict(matrix or {}),
        "trigger": dict(execution.trigger_info),
    }
    if isinstance(steps, dict):
        context: dict[str, Any] = {**values, "steps": steps}
    else:
        ids = list(steps)
        context = _Context(values, lambda: step_states(execution.pk, ids))
    context["vars"] = {name: render_template(str(value), context) for name, value in spec["variables"].items()}
    return context


def env_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).upper()


def base_environment(execution: Execution, step: StepExecution, context: dict[str, Any]) -> dict[str, str]:
    """Inputs, variables and matrix values as environment variables: data, never pasted into a command."""
    env: dict[str, str] = {
        "ANSFLOW_EXECUTION_ID": str(execution.pk),
        "ANSFLOW_EXECUTION_NUMBER": str(execution.number),
        "ANSFLOW_PIPELINE": execution.pipeline.name,
        "ANSFLOW_PROJECT": execution.project.slug,
        "ANSFLOW_STEP_ID": step.step_id,
        "ANSFLOW_ATTEMPT": str(step.attempt),
    }
    for name, value in context["inputs"].items():
        env[f"INPUT_{env_name(name)}"] = _env_value(value)
    for name, value in context["matrix"].items():
        env[f"MATRIX_{env_name(name)}"] = _env_value(value)
    for name, value in context["vars"].items():
        env[name] = value
    # The pool process running the attempt: its worker ends the step's processes if that process dies.
    env["ANSFLOW_WORKER"] = step.worker
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
