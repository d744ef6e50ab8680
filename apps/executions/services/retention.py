"""Retention: finished executions lose their log lines after ``LOG_RETENTION_DAYS``, and notification
delivery attempts are deleted after ``NOTIFICATION_RETENTION_DAYS``."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.accounts.services import audit_record

from ..choices import ExecutionStatus
from ..models import Execution, LogLine, NotificationDelivery
from ..notifications.choices import DeliveryStatus

BATCH = 5000


def logs_expire(*, days: int | None = None) -> int:
    """Delete the log lines of executions finished more than ``days`` ago, in batches; returns lines deleted."""
    keep = settings.LOG_RETENTION_DAYS if days is None else days
    if keep <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=keep)
    expired = Execution.objects.filter(status__in=ExecutionStatus.terminal(), finished_at__lt=cutoff)
    deleted = 0
    for execution_id in expired.filter(log_lines__isnull=False).distinct().values_list("pk", flat=True).iterator():
        while True:
            ids = list(LogLine.objects.filter(execution_id=execution_id).values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            deleted += LogLine.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        audit_record(actor=None, verb="logs.expire", changes={"lines": deleted, "older_than_days": keep})
    return deleted


def notification_deliveries_expire(*, days: int | None = None) -> int:
    """Delete delivery attempts recorded more than ``days`` ago (default ``NOTIFICATION_RETENTION_DAYS``; 0 keeps
    them), in batches; attempts still pending or being sent stay. Returns how many were deleted."""
    keep = settings.NOTIFICATION_RETENTION_DAYS if days is None else days
    if keep <= 0:
        return 0
    expired = NotificationDelivery.objects.filter(created_at__lt=timezone.now() - timedelta(days=keep)).exclude(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    )
    deleted = 0
    while ids := list(expired.values_list("pk", flat=True)[:BATCH]):
        deleted += NotificationDelivery.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        audit_record(actor=None, verb="notifications.expire", changes={"deliveries": deleted, "older_than_days": keep})
    return deleted
