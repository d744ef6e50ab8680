"""The engine's plain-SQL statements read and write exactly what the ORM reads and writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from apps.executions.choices import StepStatus
from apps.executions.engine import statements
from apps.executions.engine.runner import claim, load_claimed
from apps.executions.models import Execution, StepAttempt, StepExecution

from .helpers import pipeline_yaml, start

pytestmark = pytest.mark.django_db

PIPELINE = pipeline_yaml(
    "statements",
    """
    - {id: build, type: shell, run: 'true', matrix: {py: ['3.12']}, outputs: [v]}
    """,
    extra="inputs: {tag: {type: string, default: 'ünï \"q\"'}}\n",
)


def _columns(instance: object) -> dict[str, object]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}  # type: ignore[attr-defined]


def test_get_builds_the_instance_the_orm_builds_json_datetimes_and_booleans_included():
    execution = start(PIPELINE, {"tag": 'v1 "ü"'})
    Execution.objects.filter(pk=execution.pk).update(
        cancel_requested=True, started_at=timezone.now(), trigger_info={"ref": "main", "n": [1, None]}
    )

    assert _columns(statements.get(Execution, execution.pk, lock=True)) == _columns(
        Execution.objects.get(pk=execution.pk)
    )
    with pytest.raises(Execution.DoesNotExist):
        statements.get(Execution, execution.pk + 1000)


def test_claim_load_and_update_agree_with_the_orm():
    execution = start(PIPELINE)
    step = execution.steps.get()
    assert step.status == StepStatus.QUEUED

    assert claim(step.pk, step.attempt)
    assert not claim(step.pk, step.attempt), "a second claim of the same attempt must lose"
    loaded, version_created = load_claimed(step.pk)
    orm = StepExecution.objects.select_related("execution__pipeline", "execution__project").get(pk=step.pk)
    for name in ("step_id", "kind", "attempt", "matrix", "status", "started_at", "worker", "execution_id"):
        assert getattr(loaded, name) == getattr(orm, name), name
    assert loaded.matrix == {"py": "3.12"}
    assert loaded.execution.inputs == orm.execution.inputs == {"tag": 'ünï "q"'}
    assert loaded.execution.pipeline.name == "statements"
    assert loaded.execution.project.slug == orm.execution.project.slug
    assert version_created == orm.execution.version.created_at

    finished = timezone.now() + timedelta(seconds=1)
    outputs = {"v": 'a "quoted" ü', "n": "1"}
    assert statements.update(
        StepExecution,
        {"status": StepStatus.SUCCESS, "finished_at": finished, "outputs": outputs, "exit_code": 0},
        {"id": step.pk, "attempt": step.attempt, "status": StepStatus.RUNNING},
    )
    statements.insert(
        StepAttempt,
        {"step_id": step.pk, "number": step.attempt, "status": StepStatus.SUCCESS, "exit_code": 0, "error": "",
         "worker": "w", "started_at": loaded.started_at, "finished_at": finished},
    )  # fmt: skip
    row = StepExecution.objects.get(pk=step.pk)
    assert (row.status, row.finished_at, row.outputs, row.exit_code) == (StepStatus.SUCCESS, finished, outputs, 0)
    attempt = StepAttempt.objects.get(step=step)
    assert model_to_dict(attempt, exclude=["id"]) == {
        "step": step.pk, "number": 1, "status": "success", "exit_code": 0, "error": "", "worker": "w",
        "started_at": loaded.started_at, "finished_at": finished,
    }  # fmt: skip
    # The row is no longer running that attempt: the conditional update changes nothing.
    assert not statements.update(StepExecution, {"error": "x"}, {"id": step.pk, "status": StepStatus.RUNNING})
