"""Starting, canceling and re-running executions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiToken, Project
from apps.accounts.services import audit_record
from apps.pipelines.models import Pipeline, PipelineVersion, Trigger, TriggerKind
from apps.pipelines.spec import ExpressionError, render_template, validate_inputs

from ..choices import ExecutionStatus, StepStatus
from ..engine import events
from ..engine.denormalise import pipeline_record_outcome
from ..engine.scheduler import advance, lock_execution
from ..models import Execution, StepExecution


class RunError(Exception):
    """The run cannot start or change as asked; the message says why."""


@transaction.atomic
def execution_start(
    *,
    actor: Any,
    pipeline: Pipeline,
    inputs: Mapping[str, Any] | None = None,
    trigger: str = "manual",
    trigger_info: Mapping[str, Any] | None = None,
    version: PipelineVersion | None = None,
    rerun_of: Execution | None = None,
    reuse_successful: bool = False,
    request: Any = None,
) -> Execution:
    """Create the execution and all its steps (matrix expanded), then admit it or queue it.

    Raises ``InputError`` for invalid inputs and ``RunError`` when the pipeline cannot run.
    """
    pipeline = Pipeline.objects.select_for_update().select_related("project", "current_version").get(pk=pipeline.pk)
    version = version or pipeline.current_version
    if version is None:
        raise RunError(f"pipeline {pipeline} has no version to run")
    check_run_allowed(pipeline, trigger)
    spec = version.spec
    values = validate_inputs(spec, inputs or {})
    number = pipeline.run_count + 1
    Pipeline.objects.filter(pk=pipeline.pk).update(run_count=number)
    execution = Execution.objects.create(
        project=pipeline.project,
        pipeline=pipeline,
        version=version,
        number=number,
        inputs=values,
        trigger=trigger,
        trigger_info=dict(trigger_info or {}),
        actor=_user_of(actor),
        concurrency_group=_concurrency_group(pipeline, spec, values),
        rerun_of=rerun_of,
    )
    StepExecution.objects.bulk_create(
        [
            StepExecution(
                execution=execution,
                step_id=step["id"],
                base_id=step["base_id"],
                kind=step["type"],
                position=position,
                matrix=step.get("matrix") or {},
                needs=list(step.get("needs") or []),
            )
            for position, step in enumerate(spec["steps"])
        ]
    )
    if rerun_of is not None and reuse_successful:
        _reuse_successful_steps(execution, rerun_of)
    audit_record(
        actor=actor,
        verb="execution.start",
        target=execution,
        project=pipeline.project,
        changes={"inputs": values, "trigger": trigger, "version": version.number},
        request=request,
    )
    pipeline_record_outcome(execution)
    events.execution_status(execution)
    _admit(execution, spec.get("concurrency"))
    return execution


def check_run_allowed(pipeline: Pipeline, kind: str) -> None:
    """RunError when runs of ``kind`` (api or manual) are turned off (``spec.on`` or an operator)."""
    if kind not in (TriggerKind.API, TriggerKind.MANUAL):
        return
    trigger = Trigger.objects.filter(pipeline=pipeline, key=kind).first()
    if trigger is not None and not trigger.active:
        raise RunError(f"runs by {kind} are turned off for pipeline {pipeline}")


def _user_of(actor: Any) -> Any:
    """The user behind an actor (a user, an API token, or None for the system)."""
    if actor is None:
        return None
    if isinstance(actor, ApiToken):
        return actor.user
    return actor if getattr(actor, "is_authenticated", False) else None


def _concurrency_group(pipeline: Pipeline, spec: dict[str, Any], values: dict[str, Any]) -> str:
    concurrency = spec.get("concurrency")
    if not concurrency:
        return ""
    context = {
        "inputs": values,
        "vars": dict(spec.get("variables") or {}),
        "execution": {"pipeline": pipeline.name, "project": pipeline.project.slug},
    }
    try:
        return render_template(str(concurrency.get("group") or pipeline.name), context)[:200]
    except ExpressionError as exc:
        raise RunError(f"concurrency.group: {exc}") from exc


def _reuse_successful_steps(execution: Execution, original: Execution) -> None:
    done = {s.step_id: s for s in original.steps.filter(status=StepStatus.SUCCESS)}
    now = timezone.now()
    for step in execution.steps.all():
        source = done.get(step.step_id)
        if source is None:
            continue
        step.status = StepStatus.SUCCESS
        step.outputs = source.outputs
        step.exit_code = source.exit_code
        step.attempt = source.attempt
        step.started_at = source.started_at
        step.finished_at = source.finished_at or now
        step.reused_from = source.reused_from or source
        step.error = f"reused from #{original.number}"
        step.save()


def _admit(execution: Execution, concurrency: dict[str, Any] | None) -> None:
    """Begin now, or leave queued behind the group's running executions."""
    if not execution.concurrency_group or not concurrency:
        _begin(execution)
        return
    Project.objects.select_for_update().get(pk=execution.project_id)  # serialises admission per project
    others = Execution.objects.filter(
        project_id=execution.project_id,
        concurrency_group=execution.concurrency_group,
        status__in=[ExecutionStatus.QUEUED, ExecutionStatus.RUNNING],
    ).exclude(pk=execution.pk)
    if concurrency.get("cancel_in_progress"):
        for other in others.order_by("pk"):
            _cancel(other, actor=None, reason=f"canceled in progress by #{execution.number}")
        _begin(execution)
        return
    running = others.filter(status=ExecutionStatus.RUNNING).count()
    waiting_before = others.filter(status=ExecutionStatus.QUEUED, pk__lt=execution.pk).exists()
    if running < int(concurrency.get("limit") or 1) and not waiting_before:
        _begin(execution)


def _begin(execution: Execution) -> None:
    execution.started_at = timezone.now()
    execution.save(update_fields=["started_at", "updated_at"])
    advance(execution)


@transaction.atomic
def start_queued_in_group(*, project_id: int, group: str) -> Execution | None:
    """Admit the oldest queued execution of a concurrency group when a slot is free."""
    Project.objects.select_for_update().get(pk=project_id)
    queued = (
        Execution.objects.filter(project_id=project_id, concurrency_group=group, status=ExecutionStatus.QUEUED)
        .select_related("version")
        .order_by("pk")
        .first()
    )
    if queued is None:
        return None
    limit = int((queued.version.spec.get("concurrency") or {}).get("limit") or 1)
    running = Execution.objects.filter(
        project_id=project_id, concurrency_group=group, status=ExecutionStatus.RUNNING
    ).count()
    if running >= limit:
        return None
    execution = lock_execution(queued.pk)
    if execution.status != ExecutionStatus.QUEUED:
        return None
    _begin(execution)
    return execution


def _cancel(execution: Execution, *, actor: Any, reason: str) -> Execution:
    execution = lock_execution(execution.pk)
    if execution.status in ExecutionStatus.terminal():
        return execution
    execution.cancel_requested = True
    execution.error = reason
    execution.save(update_fields=["cancel_requested", "error", "updated_at"])
    now = timezone.now()
    active = [StepStatus.PENDING, StepStatus.QUEUED, StepStatus.WAITING, StepStatus.RUNNING]
    for step in execution.steps.select_for_update().filter(status__in=active):
        # A running step's watchdog sees the row change and kills its process group.
        step.status = StepStatus.CANCELED
        step.finished_at = now
        step.error = reason
        step.save(update_fields=["status", "finished_at", "error", "updated_at"])
        events.step_status(execution, step)
    audit_record(actor=actor, verb="execution.cancel", target=execution, project=execution.project)
    advance(execution)
    return execution


@transaction.atomic
def execution_cancel(*, actor: Any, execution: Execution, request: Any = None) -> Execution:
    """Cancel: queued and waiting steps end at once, running ones are killed (SIGTERM, then SIGKILL)."""
    who = getattr(actor, "username", None) or "the system"
    return _cancel(execution, actor=actor, reason=f"canceled by {who}")


def execution_rerun(*, actor: Any, execution: Execution, request: Any = None) -> Execution:
    """Run the same version with the same inputs again, from scratch."""
    return execution_start(
        actor=actor,
        pipeline=execution.pipeline,
        inputs=execution.inputs,
        version=execution.version,
        trigger="rerun",
        trigger_info={"rerun_of": execution.pk},
        rerun_of=execution,
        request=request,
    )


def execution_retry_failed(*, actor: Any, execution: Execution, request: Any = None) -> Execution:
    """A new execution that keeps the successful steps' results and outputs and runs the rest."""
    if execution.status not in (ExecutionStatus.FAILED, ExecutionStatus.CANCELED):
        raise RunError(
            f"only failed or canceled executions can retry their failed steps (this one is {execution.status})"
        )
    return execution_start(
        actor=actor,
        pipeline=execution.pipeline,
        inputs=execution.inputs,
        version=execution.version,
        trigger="retry-failed",
        trigger_info={"rerun_of": execution.pk},
        rerun_of=execution,
        reuse_successful=True,
        request=request,
    )
