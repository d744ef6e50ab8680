"""Executions and step executions: the database rows are the truth the engine acts on."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.accounts.models import Project, TimeStampedModel
from apps.pipelines.models import Pipeline, PipelineVersion

from ..choices import ExecutionStatus, StepStatus


class Execution(TimeStampedModel):
    """One run of a frozen pipeline version with its inputs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="executions")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="executions")
    version = models.ForeignKey(PipelineVersion, on_delete=models.PROTECT, related_name="executions")
    number = models.PositiveIntegerField(help_text="Run number within the pipeline.")
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    inputs = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(max_length=32, default="manual")
    trigger_info = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    concurrency_group = models.CharField(max_length=200, blank=True, db_index=True)
    rerun_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns")
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last log sequence number handed out; log writers advance it atomically.
    log_seq = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "number"], name="execution_unique_number")]
        indexes = [
            models.Index(fields=["status", "concurrency_group"], name="execution_status_group"),
            models.Index(fields=["project", "-created_at"], name="execution_project_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline} #{self.number}"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class StepExecution(TimeStampedModel):
    """One step of an execution (a matrix child is its own row); ``attempt`` is the current attempt."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="steps")
    step_id = models.CharField(max_length=200)
    base_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=50)
    position = models.PositiveIntegerField()
    matrix = models.JSONField(default=dict, blank=True)
    needs = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempt = models.PositiveIntegerField(default=0)
    exit_code = models.IntegerField(null=True, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retry backoff: not sent before this time.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True, help_text="Approval gates time out at this time.")
    reused_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", help_text="Re-run of failed steps"
    )

    class Meta:
        ordering = ["execution", "position"]
        constraints = [models.UniqueConstraint(fields=["execution", "step_id"], name="step_unique_id")]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="step_status_heartbeat"),
            # What is left of a run (the scheduler after every step): an index lookup, not a scan of its steps.
            models.Index(fields=["execution", "status"], name="step_execution_status"),
        ]

    def __str__(self) -> str:
        return f"{self.execution} {self.step_id}"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class StepAttempt(models.Model):
    """The record of one finished attempt of a step; the step row holds the latest."""

    step = models.ForeignKey(StepExecution, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["step", "number"]
        constraints = [models.UniqueConstraint(fields=["step", "number"], name="attempt_unique_number")]

    def __str__(self) -> str:
        return f"{self.step} attempt {self.number}: {self.status}"
