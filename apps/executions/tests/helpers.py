"""Helpers for engine tests: import YAML, start a run, wait for the database to say it finished."""

from __future__ import annotations

import textwrap
from typing import Any

from django.contrib.auth import get_user_model

from ansflow.testing import wait_until
from apps.accounts.models import Project
from apps.executions.choices import ExecutionStatus
from apps.executions.models import Execution, LogLine
from apps.executions.services import execution_start
from apps.pipelines.services import pipeline_import


def superuser() -> Any:
    User = get_user_model()
    return User.objects.filter(username="root").first() or User.objects.create_superuser("root", password="x")


def project(slug: str = "eng") -> Project:
    return Project.objects.get_or_create(slug=slug, defaults={"name": slug})[0]


def pipeline_yaml(name: str, steps: str, extra: str = "", project_slug: str = "eng") -> str:
    return (
        f"apiVersion: ansflow/v1\nkind: Pipeline\nmetadata: {{name: {name}, project: {project_slug}}}\nspec:\n"
        + textwrap.indent(textwrap.dedent(extra), "  ")
        + "  steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "    ")
    )


def start(yaml_text: str, inputs: dict[str, Any] | None = None, project_slug: str = "eng") -> Execution:
    actor = superuser()
    imported = pipeline_import(actor=actor, project=project(project_slug), yaml_text=yaml_text)
    return execution_start(actor=actor, pipeline=imported.pipeline, inputs=inputs or {})


def wait_done(execution: Execution, timeout: float = 60.0) -> Execution:
    def finished() -> Execution | None:
        current = Execution.objects.get(pk=execution.pk)
        return current if current.status in ExecutionStatus.terminal() else None

    return wait_until(finished, timeout=timeout, message=f"execution {execution.pk} finishes")


def run(yaml_text: str, inputs: dict[str, Any] | None = None, timeout: float = 60.0) -> Execution:
    return wait_done(start(yaml_text, inputs), timeout=timeout)


def statuses(execution: Execution) -> dict[str, str]:
    return dict(execution.steps.values_list("step_id", "status"))


def log_text(execution: Execution, step_id: str | None = None) -> list[str]:
    lines = LogLine.objects.filter(execution=execution).order_by("seq")
    if step_id is not None:
        lines = lines.filter(step__step_id=step_id)
    return list(lines.values_list("text", flat=True))


def fan_out_on_extra_workers(
    name: str, side_effects: Any, groups: int, width: int, duplicate_messages: bool = False, timeout: float = 600
) -> Execution:
    """``groups`` matrix steps of ``width`` children each, run on three extra workers beside the session's;
    every child appends "<step id> <attempt>" to ``side_effects``. Optionally each step gets a second
    message, as a broker redelivery or a reaper resend would send."""
    from ansflow.testing import CeleryWorker
    from apps.executions.models import StepExecution
    from apps.executions.tasks import run_step

    extra = [CeleryWorker.create(f"{name}-{i}", concurrency=1) for i in range(3)]
    for worker in extra:
        worker.start()
    try:
        for worker in extra:
            worker.wait_ready()
        values = ", ".join(str(n) for n in range(width))
        steps = "".join(
            f"""
            - id: fan{group}
              type: shell
              matrix: {{n: [{values}]}}
              run: echo "$ANSFLOW_STEP_ID $ANSFLOW_ATTEMPT" >> {side_effects}
            """
            for group in range(groups)
        )
        execution = start(pipeline_yaml(name, steps))
        if duplicate_messages:
            for pk, attempt in StepExecution.objects.filter(execution=execution).values_list("pk", "attempt"):
                run_step.delay(pk, attempt)
        return wait_done(execution, timeout=timeout)
    finally:
        for worker in extra:
            worker.stop()
