"""Schedule triggers: celery beat (django-celery-beat's DatabaseScheduler) sends ``executions.fire_schedule``.

Beat decides *when* from the trigger's crontab in its time zone; after downtime it sends one overdue
message, not one per missed slot. This module starts the run, at most once per local wall-clock minute
of the schedule's time zone: when clocks go back and a time happens twice, the second one is the same
slot and starts nothing.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.utils import timezone

from apps.pipelines.models import Trigger, TriggerEvent, TriggerKind

from .fire import trigger_fire


def schedule_slot(now: datetime, zone: str) -> str:
    """The local wall-clock minute of ``now`` in ``zone``: the dedupe key of one scheduled run."""
    return "schedule:" + now.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def schedule_fire(*, trigger_id: int, now: datetime | None = None) -> TriggerEvent | None:
    """Start the schedule trigger's run for this minute; None when it is off, gone or already fired."""
    trigger = Trigger.objects.select_related("pipeline__project").filter(pk=trigger_id).first()
    if trigger is None or trigger.kind != TriggerKind.SCHEDULE or not trigger.active:
        return None
    now = now or timezone.now()
    zone = trigger.config.get("timezone") or "UTC"
    slot = schedule_slot(now, zone)
    info = {"cron": trigger.config.get("cron"), "timezone": zone, "scheduled_for": slot.removeprefix("schedule:"),
            "fired_at": now.isoformat()}  # fmt: skip
    return trigger_fire(trigger=trigger, info=info, delivery_id=slot)
