"""From engine events to delivery rows: which rules fire, once per rule, target, run and event."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ..choices import ExecutionStatus, StepStatus
from ..models import Execution, NotificationDelivery, NotificationRule, StepExecution
from .choices import DeliveryStatus, NotificationEvent

logger = logging.getLogger("ansflow.notifications")


def rules_for(execution: Execution, event: str) -> QuerySet[NotificationRule]:
    """The enabled rules of the run's project for ``event``: project-wide ones and its pipeline's."""
    return (
        NotificationRule.objects.filter(project_id=execution.project_id, event=event, enabled=True)
        .filter(Q(pipeline__isnull=True) | Q(pipeline_id=execution.pipeline_id))
        .prefetch_related("targets")
        .order_by("pk")
    )


@transaction.atomic
def deliveries_create(
    *, execution: Execution, event: str, rules: Iterable[NotificationRule], subject: str = ""
) -> list[int]:
    """Records the first attempt of ``event`` for every target of every rule and sends them after commit.

    An attempt already recorded (the event reported twice, two reapers at once) is skipped: the row is
    unique per rule, target, run, event and subject. Returns the ids of the new rows.
    """
    created: list[int] = []
    for rule in rules:
        for target in rule.targets.all():
            try:
                with transaction.atomic():
                    delivery = NotificationDelivery.objects.create(
                        project_id=execution.project_id, rule=rule, target=target, target_name=target.name,
                        execution=execution, event=event, subject=subject, attempt=1,
                    )  # fmt: skip
            except IntegrityError:
                continue
            created.append(delivery.pk)
    send_after_commit([(pk, 0.0) for pk in created])
    return created


def send_after_commit(deliveries: list[tuple[int, float]]) -> None:
    """Send ``(delivery id, delay in seconds)`` to the workers once the rows are committed."""
    if not deliveries:
        return

    def send() -> None:
        from ..tasks import notification_send

        for pk, delay in deliveries:
            notification_send.apply_async((pk,), countdown=delay or None)

    transaction.on_commit(send)


def _previous_outcome(execution: Execution) -> str | None:
    """The status of the pipeline's latest earlier run that succeeded or failed (canceled runs say nothing)."""
    return (
        Execution.objects.filter(
            pipeline_id=execution.pipeline_id,
            number__lt=execution.number,
            status__in=[ExecutionStatus.SUCCESS, ExecutionStatus.FAILED],
        )
        .order_by("-number")
        .values_list("status", flat=True)
        .first()
    )


def notify_execution_finished(execution_id: int) -> list[int]:
    """A run reached its final state: ``failure`` when it failed, ``recovered`` when it succeeded after a failure."""
    execution = Execution.objects.select_related("project", "pipeline").filter(pk=execution_id).first()
    if execution is None:
        return []
    if execution.status == ExecutionStatus.FAILED:
        event = NotificationEvent.FAILURE
    elif execution.status == ExecutionStatus.SUCCESS and _previous_outcome(execution) == ExecutionStatus.FAILED:
        event = NotificationEvent.RECOVERED
    else:
        return []
    return deliveries_create(execution=execution, event=event, rules=rules_for(execution, event))


def notify_approval_waiting(step_pk: int) -> list[int]:
    """An approval gate started waiting: ``approval_waiting`` about that step."""
    step = StepExecution.objects.select_related("execution__project", "execution__pipeline").filter(pk=step_pk).first()
    if step is None or step.status != StepStatus.WAITING:
        return []  # decided (or the run canceled) before the message arrived: nobody needs telling
    event = NotificationEvent.APPROVAL_WAITING
    execution = step.execution
    return deliveries_create(execution=execution, event=event, rules=rules_for(execution, event), subject=step.step_id)


def notify_long_running(now: datetime | None = None) -> int:
    """Runs still running longer than a rule's N minutes, each told once per rule; returns how many deliveries."""
    now = now or timezone.now()
    created = 0
    event = NotificationEvent.LONG_RUNNING
    rules = NotificationRule.objects.filter(event=event, enabled=True, minutes__gte=1).prefetch_related("targets")
    for rule in rules:
        told = NotificationDelivery.objects.filter(execution=OuterRef("pk"), rule=rule, event=event)
        overdue = Execution.objects.filter(
            project_id=rule.project_id, status=ExecutionStatus.RUNNING,
            started_at__lte=now - timedelta(minutes=rule.minutes or 0),
        ).filter(~Exists(told))  # fmt: skip
        if rule.pipeline_id is not None:
            overdue = overdue.filter(pipeline_id=rule.pipeline_id)
        for execution in overdue.order_by("pk")[:100]:
            created += len(deliveries_create(execution=execution, event=event, rules=[rule]))
    return created


def resend_stale(now: datetime | None = None) -> int:
    """A pending attempt whose message was lost (broker restart) is sent again, at most once per REQUEUE_AFTER."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.REQUEUE_AFTER)
    rows = list(
        NotificationDelivery.objects.filter(status=DeliveryStatus.PENDING, updated_at__lt=stale)
        .filter(Q(not_before__isnull=True) | Q(not_before__lt=stale))
        .values_list("pk", "updated_at")[:500]
    )
    resent = []
    for pk, updated_at in rows:
        if NotificationDelivery.objects.filter(pk=pk, status=DeliveryStatus.PENDING, updated_at=updated_at).update(
            updated_at=now
        ):
            resent.append((pk, 0.0))
    if resent:
        from ..tasks import notification_send

        for pk, _ in resent:
            notification_send.delay(pk)
    return len(resent)


__all__ = ["deliveries_create", "notify_approval_waiting", "notify_execution_finished", "notify_long_running",
           "resend_stale", "rules_for", "send_after_commit"]  # fmt: skip
