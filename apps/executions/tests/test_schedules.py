"""Schedule triggers: celery beat's database scheduler for real, and its decisions driven by a controllable clock
through daylight-saving transitions both ways and through downtime."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from ansflow.celery import app as celery_app
from ansflow.management.commands.serve import BEAT_SCHEDULER
from ansflow.testing import ManagedProcess, output_dir, subprocess_env, wait_until
from apps.executions.models import Execution
from apps.executions.triggers.schedules import schedule_fire
from apps.pipelines.models import Trigger, TriggerEvent
from apps.pipelines.services import pipeline_import
from apps.pipelines.triggers.services import trigger_set_enabled

from .helpers import pipeline_yaml, project, superuser

PARIS = ZoneInfo("Europe/Paris")


def scheduled(name: str, cron: str, zone: str = "Europe/Paris") -> Trigger:
    text = pipeline_yaml(name, "- {id: a, type: shell, run: 'true'}",
                         extra=f"on:\n  schedule: [{{cron: '{cron}', timezone: {zone}}}]\n")  # fmt: skip
    pipeline = pipeline_import(actor=superuser(), project=project(), yaml_text=text).pipeline
    return Trigger.objects.get(pipeline=pipeline, kind="schedule")


class Beat:
    """Celery beat's per-entry decision (django-celery-beat's ModelEntry) on a clock the test moves.

    Each tick asks the entry ``is_due`` at the clock's time, as beat's loop does; a due entry sends
    the trigger's task (here: the task's body, ``schedule_fire``, at that time) and moves on to the
    next entry with ``last_run_at`` = now, exactly as ``ModelEntry.__next__`` does.
    """

    def __init__(self, trigger: Trigger, start: datetime) -> None:
        self.trigger = trigger
        task = PeriodicTask.objects.get(pk=trigger.periodic_task_id)
        task.last_run_at = start
        task.save()
        self.now = start
        self.entry = self._entry(task)
        self.fired: list[datetime] = []

    def _entry(self, task: PeriodicTask) -> ModelEntry:
        entry = ModelEntry(task, app=celery_app)
        entry._default_now = lambda: self.now
        entry.schedule.nowfun = lambda: self.now.astimezone(entry.schedule.tz)
        return entry

    def run_until(self, end: datetime, step: timedelta = timedelta(minutes=1), down: tuple | None = None) -> None:
        while self.now < end:
            self.now += step
            if down and down[0] <= self.now < down[1]:
                continue  # beat is not running
            due, _next = self.entry.is_due()
            if due:
                self.fired.append(self.now)
                schedule_fire(trigger_id=self.trigger.pk, now=self.now)
                self.entry.model.last_run_at = self.now
                self.entry = self._entry(self.entry.model)

    def local_runs(self) -> list[str]:
        runs = Execution.objects.filter(pipeline=self.trigger.pipeline, trigger="schedule").order_by("pk")
        return [r.trigger_info["scheduled_for"] for r in runs]


@pytest.mark.django_db
def test_spring_forward_runs_a_missing_time_once() -> None:
    # 2025-03-30 in Paris: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    trigger = scheduled("dst-spring", "30 2 * * *")
    beat = Beat(trigger, datetime(2025, 3, 28, 12, 0, tzinfo=UTC))
    beat.run_until(datetime(2025, 3, 31, 12, 0, tzinfo=UTC))
    runs = beat.local_runs()
    assert [r[:10] for r in runs] == ["2025-03-29", "2025-03-30", "2025-03-31"], runs
    assert runs[0].endswith("02:30")
    assert runs[2].endswith("02:30")
    assert "03:00" <= runs[1][11:] <= "03:30", runs[1]  # once, shifted by the jump


@pytest.mark.django_db
def test_fall_back_runs_a_repeated_time_once() -> None:
    # 2025-10-26 in Paris: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice.
    trigger = scheduled("dst-autumn", "30 2 * * *")
    beat = Beat(trigger, datetime(2025, 10, 24, 12, 0, tzinfo=UTC))
    beat.run_until(datetime(2025, 10, 27, 12, 0, tzinfo=UTC))
    assert beat.local_runs() == ["2025-10-25T02:30", "2025-10-26T02:30", "2025-10-27T02:30"]
    # Every half hour through the repeated hour is the same count of runs as any other night.
    hourly = scheduled("dst-autumn-half-hourly", "*/30 * * * *")
    beat = Beat(hourly, datetime(2025, 10, 25, 22, 0, tzinfo=UTC))  # 00:00 CEST
    beat.run_until(datetime(2025, 10, 26, 4, 0, tzinfo=UTC))  # 05:00 CET: six hours of wall time, seven of real time
    local = beat.local_runs()
    assert len(local) == len(set(local)), local  # no wall-clock slot twice
    assert "2025-10-26T02:00" in local
    assert "2025-10-26T02:30" in local


@pytest.mark.django_db
def test_missed_runs_after_downtime_run_once() -> None:
    trigger = scheduled("downtime", "0 * * * *", zone="UTC")
    beat = Beat(trigger, datetime(2025, 6, 1, 0, 30, tzinfo=UTC))
    down = (datetime(2025, 6, 1, 1, 30, tzinfo=UTC), datetime(2025, 6, 1, 6, 10, tzinfo=UTC))
    beat.run_until(datetime(2025, 6, 1, 8, 30, tzinfo=UTC), down=down)
    # 01:00 ran, 02:00-06:00 were missed: one catch-up run at restart, then on time again.
    assert beat.local_runs() == ["2025-06-01T01:00", "2025-06-01T06:10", "2025-06-01T07:00", "2025-06-01T08:00"]


@pytest.mark.django_db
def test_disabled_or_redeclared_schedules() -> None:
    trigger = scheduled("switch", "0 * * * *", zone="UTC")
    assert PeriodicTask.objects.get(pk=trigger.periodic_task_id).enabled
    trigger_set_enabled(actor=superuser(), trigger=trigger, enabled=False)
    assert not PeriodicTask.objects.get(pk=trigger.periodic_task_id).enabled
    assert schedule_fire(trigger_id=trigger.pk, now=datetime(2025, 6, 1, 1, tzinfo=UTC)) is None
    assert not TriggerEvent.objects.filter(trigger=trigger).exists()
    # A new version without the schedule removes its beat entry.
    pipeline_import(actor=superuser(), project=project(),
                    yaml_text=pipeline_yaml("switch", "- {id: a, type: shell, run: 'true'}"))  # fmt: skip
    trigger.refresh_from_db()
    assert not trigger.declared
    assert trigger.periodic_task_id is None
    assert not PeriodicTask.objects.filter(task="executions.fire_schedule", args=f"[{trigger.pk}]").exists()


@pytest.mark.django_db(transaction=True)
def test_real_beat_keeps_the_engine_entries_and_fires_a_schedule(celery_worker) -> None:
    trigger = scheduled("every-minute", "* * * * *", zone="UTC")
    argv = [sys.executable, "-m", "celery", "-A", "ansflow", "beat", "--loglevel", "INFO",
            "--scheduler", BEAT_SCHEDULER, "--pidfile="]  # fmt: skip
    beat = ManagedProcess("beat", argv, subprocess_env(), output_dir() / "beat.log")
    beat.start()
    try:
        run = wait_until(lambda: Execution.objects.filter(pipeline=trigger.pipeline, trigger="schedule").first(),
                         timeout=120, interval=0.5, message="beat fires the every-minute schedule")  # fmt: skip
        assert run.trigger_info["cron"] == "* * * * *"
        wait_until(lambda: "executions.reap" in beat.output(), timeout=30, message="beat sends the reaper")
        names = set(PeriodicTask.objects.values_list("name", flat=True))
        assert {"ansflow-reaper", "ansflow-log-retention", "ansflow-notification-retention"} <= names
        retention = PeriodicTask.objects.get(name="ansflow-log-retention")
        assert (retention.task, retention.interval.every, retention.enabled) == ("executions.cleanup_logs", 3600, True)
    finally:
        beat.stop()
