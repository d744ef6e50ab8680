"""Approval gates: people approve or reject a waiting step."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.permissions import effective_role, has_perm
from apps.accounts.services import audit_record

from ..choices import Decision, StepStatus
from ..engine import events
from ..engine.scheduler import advance, lock_execution
from ..models import Approval, StepExecution
from ..selectors import approvers_allow
from .runs import RunError


@transaction.atomic
def approval_decide(
    *, actor: Any, step: StepExecution, decision: str, comment: str = "", request: Any = None
) -> StepExecution:
    """Record one person's decision; enough approvals succeed the gate, one rejection fails it."""
    execution = lock_execution(step.execution_id)
    step = StepExecution.objects.select_for_update().get(pk=step.pk)
    if not has_perm(actor, "approve", execution):
        raise PermissionDenied("you may not approve in this project")
    if step.status != StepStatus.WAITING:
        raise RunError(f"step {step.step_id} is not waiting for approval (it is {step.status})")
    spec = next(s for s in execution.version.spec["steps"] if s["id"] == step.step_id)
    rules = spec.get("with") or {}
    if not approvers_allow(actor, rules.get("approvers") or {}, lambda: effective_role(actor, step.execution.project)):
        raise PermissionDenied("you are not one of this gate's approvers")
    if decision not in Decision.values:
        raise RunError(f"decision must be one of {', '.join(Decision.values)}")
    try:
        with transaction.atomic():
            Approval.objects.create(step=step, user=actor, decision=decision, comment=comment)
    except IntegrityError as exc:
        raise RunError("you have already decided on this gate") from exc
    audit_record(
        actor=actor,
        verb=f"approval.{decision}",
        target=step,
        project=execution.project,
        changes={"comment": comment},
        request=request,
    )
    now = timezone.now()
    approvals = step.approvals.filter(decision=Decision.APPROVE).count()
    if decision == Decision.REJECT:
        step.status, step.error = StepStatus.FAILED, f"rejected by {actor.get_username()}"
    elif approvals >= int(rules.get("min_approvals") or 1):
        step.status = StepStatus.SUCCESS
    if step.status != StepStatus.WAITING:
        step.finished_at = now
        step.save(update_fields=["status", "error", "finished_at", "updated_at"])
        events.step_status(execution, step)
    advance(execution)
    return step


def approval_expire(*, step_pk: int) -> None:
    """A gate past its deadline fails or is skipped per ``on_timeout``."""
    with transaction.atomic():
        step = StepExecution.objects.only("execution_id").get(pk=step_pk)
        execution = lock_execution(step.execution_id)
        step = StepExecution.objects.select_for_update().get(pk=step_pk)
        if step.status != StepStatus.WAITING:
            return
        spec = next(s for s in execution.version.spec["steps"] if s["id"] == step.step_id)
        on_timeout = (spec.get("with") or {}).get("on_timeout", "fail")
        step.status = StepStatus.SKIPPED if on_timeout == "skip" else StepStatus.TIMED_OUT
        step.error = "approval timed out"
        step.finished_at = timezone.now()
        step.save(update_fields=["status", "error", "finished_at", "updated_at"])
        audit_record(actor=None, verb="approval.timeout", target=step, project=execution.project)
        events.step_status(execution, step)
        advance(execution)
