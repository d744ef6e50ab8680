"""Approval gates: people approve or reject a waiting step."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.choices import Role
from apps.accounts.permissions import effective_role, has_perm
from apps.accounts.services import audit_record

from ..choices import Decision, StepStatus
from ..engine import events
from ..engine.scheduler import advance, lock_execution
from ..models import Approval, StepExecution
from .runs import RunError


def approver_allowed(user: Any, step: StepExecution, rules: dict[str, Any]) -> bool:
    """Users named in ``approvers.users``, or with at least one of ``approvers.roles`` (or higher)."""
    if user.is_superuser:
        return True
    users = set(rules.get("users") or [])
    roles = list(rules.get("roles") or [])
    if not users and not roles:
        return True  # any operator of the project, which has_perm already checked
    if user.get_username() in users:
        return True
    role = effective_role(user, step.execution.project)
    if role is None or not roles:
        return False
    return Role.rank_of(role) >= min(Role.rank_of(r) for r in roles)


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
    if not approver_allowed(actor, step, rules.get("approvers") or {}):
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
