"""The reaper: nothing stays running, queued or waiting forever.

Runs every ``REAPER_INTERVAL`` seconds (Celery beat) and is safe to run on many
workers at once: each repair re-checks the row under its lock.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..choices import ExecutionStatus, StepStatus
from ..executors.base import StepResult
from ..models import Execution, StepExecution
from ..notifications.delivery import recover_sending
from ..notifications.dispatch import notify_long_running, resend_stale
from .logsink import system_line
from .runner import heartbeat_cutoff, record_attempt_end
from .scheduler import advance, lock_execution, send_after_commit

logger = logging.getLogger("ansflow.engine.reaper")


def reap() -> dict[str, int]:
    """One pass; returns how many rows each repair touched."""
    from ..services import approval_expire, start_queued_in_group

    counts = {"lost": 0, "resent": 0, "approvals_expired": 0, "executions_finished": 0, "groups_started": 0}
    for step_pk, execution_id in StepExecution.objects.filter(
        status=StepStatus.RUNNING, heartbeat_at__lt=heartbeat_cutoff()
    ).values_list("pk", "execution_id"):
        counts["lost"] += mark_lost(execution_id, step_pk)
    counts["resent"] = resend_stale_queued()
    now = timezone.now()
    for step_pk in StepExecution.objects.filter(status=StepStatus.WAITING, deadline_at__lt=now).values_list(
        "pk", flat=True
    ):
        approval_expire(step_pk=step_pk)
        counts["approvals_expired"] += 1
    for execution_id in (
        Execution.objects.filter(status=ExecutionStatus.RUNNING)
        .exclude(steps__status__in=[StepStatus.PENDING, StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING])
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            advance(lock_execution(execution_id))
        counts["executions_finished"] += 1
    groups = Execution.objects.filter(status=ExecutionStatus.QUEUED).exclude(concurrency_group="")
    for project_id, group in groups.values_list("project_id", "concurrency_group").distinct():
        if start_queued_in_group(project_id=project_id, group=group) is not None:
            counts["groups_started"] += 1
    counts["notifications"] = notify_long_running(now) + resend_stale(now)
    counts["notifications_recovered"] = recover_sending(now)
    cleanup_workspaces()
    return counts


def mark_lost(execution_id: int, step_pk: int) -> int:
    """The worker running this step stopped heartbeating: the attempt is lost; retry per policy."""
    to_send: list[tuple[int, int, float]] = []
    with transaction.atomic():
        execution = lock_execution(execution_id)
        step = StepExecution.objects.select_for_update().get(pk=step_pk)
        if step.status != StepStatus.RUNNING or step.heartbeat_at is None or step.heartbeat_at >= heartbeat_cutoff():
            return 0
        silent = (timezone.now() - step.heartbeat_at).total_seconds()
        message = f"worker {step.worker or '?'} stopped heartbeating {silent:.0f} s ago; attempt {step.attempt} lost"
        record_attempt_end(execution, step, StepResult(StepStatus.LOST, error=message), timezone.now(), to_send)
        advance(execution)
        send_after_commit(to_send)
        transaction.on_commit(lambda: system_line(execution_id, step_pk, step.step_id, message))
    logger.warning(message, extra={"execution_id": execution_id, "step_id": step.step_id})
    return 1


def resend_stale_queued() -> int:
    """A queued step whose message was lost (broker restart, worker crash before claim) is sent again."""
    from ..tasks import run_step

    now = timezone.now()
    stale = now - timedelta(seconds=settings.REQUEUE_AFTER)
    rows = list(
        StepExecution.objects.filter(status=StepStatus.QUEUED, queued_at__lt=stale)
        .filter(Q(not_before__isnull=True) | Q(not_before__lt=stale))
        .values_list("pk", "attempt")
    )
    for step_pk, attempt in rows:
        # queued_at moves on, so the same step is re-sent at most once per REQUEUE_AFTER.
        if StepExecution.objects.filter(pk=step_pk, attempt=attempt, status=StepStatus.QUEUED).update(queued_at=now):
            run_step.delay(step_pk, attempt)
    return len(rows)


def cleanup_workspaces() -> None:
    root = Path(settings.WORKSPACES_DIR)
    if not root.is_dir():
        return
    cutoff = timezone.now() - timedelta(hours=settings.WORKSPACE_RETENTION_HOURS)
    ids = [int(p.name) for p in root.iterdir() if p.name.isdigit()]
    done = Execution.objects.filter(
        pk__in=ids, status__in=ExecutionStatus.terminal(), finished_at__lte=cutoff
    ).values_list("pk", flat=True)
    for execution_id in done:
        shutil.rmtree(root / str(execution_id), ignore_errors=True)


__all__ = ["mark_lost", "reap"]
