"""Celery tasks: thin wrappers that take ids and call the engine."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="executions.run_step", ignore_result=True)
def run_step(step_pk: int, attempt: int) -> None:
    from .engine.runner import run_step as run

    run(step_pk, attempt)


@shared_task(name="executions.reap", ignore_result=True)
def reap() -> dict[str, int]:
    from .engine.reaper import reap as reap_once

    return reap_once()


@shared_task(name="executions.start_queued_in_group", ignore_result=True)
def start_queued_in_group(project_id: int, group: str) -> None:
    from .services import start_queued_in_group as start

    start(project_id=project_id, group=group)


@shared_task(name="executions.cleanup_logs", ignore_result=True)
def cleanup_logs() -> int:
    from .services import logs_expire

    return logs_expire()


@shared_task(name="executions.cleanup_notifications", ignore_result=True)
def cleanup_notifications() -> int:
    from .services import notification_deliveries_expire

    return notification_deliveries_expire()


@shared_task(name="executions.execution_finished", ignore_result=True)
def execution_finished(execution_id: int) -> None:
    """After an execution reached its final state: upstream triggers, then notifications."""
    from .notifications.dispatch import notify_execution_finished
    from .triggers.upstream import on_execution_finished

    try:
        on_execution_finished(execution_id)
    finally:
        notify_execution_finished(execution_id)


@shared_task(name="executions.fire_schedule", ignore_result=True)
def fire_schedule(trigger_id: int) -> None:
    """Sent by celery beat (django-celery-beat's DatabaseScheduler) for a schedule trigger."""
    from .triggers.schedules import schedule_fire

    schedule_fire(trigger_id=trigger_id)


@shared_task(name="executions.notify_approval_waiting", ignore_result=True)
def notify_approval_waiting(step_pk: int) -> None:
    """Sent after commit when an approval gate starts waiting."""
    from .notifications.dispatch import notify_approval_waiting as notify

    notify(step_pk)


@shared_task(name="executions.notification_send", ignore_result=True)
def notification_send(delivery_id: int) -> None:
    """One attempt of one notification delivery."""
    from .notifications.delivery import delivery_send

    delivery_send(delivery_id=delivery_id)
