"""Triggers and the record of every time one fired (or could not)."""

from __future__ import annotations

import uuid

from django.db import models
from django_celery_beat.models import PeriodicTask

from apps.accounts.models import TimeStampedModel

from ..models import Pipeline


class TriggerKind(models.TextChoices):
    SCHEDULE = "schedule", "schedule"  # a cron expression in a time zone, run by celery beat
    WEBHOOK = "webhook", "webhook"  # a signed push from GitHub or GitLab at /hooks/<public id>/
    PIPELINE = "pipeline", "pipeline"  # another pipeline of the project finished with a given status
    API = "api", "api"  # POST /api/v1/pipelines/{id}/run/
    MANUAL = "manual", "manual"  # the run form


class TriggerOrigin(models.TextChoices):
    SPEC = "spec", "pipeline YAML"  # declared under spec.on; kept in step with each new version
    API = "api", "API"  # added through the REST API; new versions leave it alone


class EventOutcome(models.TextChoices):
    STARTED = "started", "started"  # an execution was started
    SKIPPED = "skipped", "skipped"  # filtered out (branch, tag, path, event, status) or the trigger is off
    FAILED = "failed", "failed"  # a run could not start (invalid inputs, no version...): ``reason`` says why


class Trigger(TimeStampedModel):
    """One way a pipeline starts, declared under ``spec.on`` (or added through the API) and switchable by
    operators (``enabled``)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="triggers")
    kind = models.CharField(max_length=16, choices=TriggerKind.choices)
    key = models.CharField(
        max_length=64, help_text="Where it is declared, e.g. schedule[0] or webhook; schedule:<name> when added by API."
    )
    origin = models.CharField(max_length=8, choices=TriggerOrigin.choices, default=TriggerOrigin.SPEC)
    config = models.JSONField(default=dict, blank=True, help_text="The normalised declaration.")
    declared = models.BooleanField(default=True, help_text="False when the current version no longer declares it.")
    enabled = models.BooleanField(default=True, help_text="Operators can turn a trigger off without a new version.")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The webhook secret, encrypted like credentials (accounts.crypto).
    secret_key_id = models.CharField(max_length=64, blank=True, editable=False)
    secret_wrapped_key = models.TextField(blank=True, editable=False)
    secret_ciphertext = models.TextField(blank=True, editable=False)
    periodic_task = models.OneToOneField(
        PeriodicTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="ansflow_trigger"
    )
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=16, choices=EventOutcome.choices, blank=True)
    last_reason = models.TextField(blank=True)
    last_execution_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["pipeline", "kind", "key"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "key"], name="trigger_unique_key")]

    def __str__(self) -> str:
        return f"{self.pipeline} {self.key}"

    @property
    def active(self) -> bool:
        """Declared by the current version, on in the spec and not switched off by an operator."""
        return self.declared and self.enabled and self.config.get("enabled", True) is not False


class TriggerEvent(models.Model):
    """One delivery or firing of a trigger and what came of it. Webhook deliveries are unique by id."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="events")
    # NULL, not "", for events without an id: NULLs never collide in the unique constraint (SQLite and MySQL).
    delivery_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    outcome = models.CharField(max_length=16, choices=EventOutcome.choices)
    reason = models.TextField(blank=True)
    execution_id = models.BigIntegerField(null=True, blank=True)
    info = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # NULL ids (schedules, upstream runs) never collide; a redelivered webhook id does.
            models.UniqueConstraint(fields=["trigger", "delivery_id"], name="trigger_event_unique_delivery")
        ]

    def __str__(self) -> str:
        return f"{self.trigger} {self.outcome} at {self.created_at:%Y-%m-%d %H:%M:%S}"
