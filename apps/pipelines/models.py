"""Pipelines and their immutable versions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from apps.accounts.models import Project, TimeStampedModel

from .choices import LastStatus


class Pipeline(TimeStampedModel):
    """A named pipeline in a project; its definition lives in immutable versions."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    labels = models.JSONField(default=dict, blank=True)
    current_version = models.ForeignKey(
        "PipelineVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Denormalised from the latest execution by an executions service.
    last_status = models.CharField(max_length=16, choices=LastStatus.choices, default=LastStatus.NEVER, blank=True)
    last_execution_id = models.BigIntegerField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    run_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["project__slug", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="pipeline_unique_name_per_project")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"


class PipelineVersion(models.Model):
    """One immutable revision of a pipeline's YAML and its parsed, normalised spec."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    yaml_text = models.TextField()
    spec = models.JSONField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pipeline", "-number"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "number"], name="version_unique_number")]

    def __str__(self) -> str:
        return f"{self.pipeline} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Pipeline versions are immutable: import a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Pipeline versions are immutable and cannot be deleted on their own.")


from .triggers.models import EventOutcome, Trigger, TriggerEvent, TriggerKind  # noqa: E402  (models of this app)

__all__ = ["EventOutcome", "Pipeline", "PipelineVersion", "Trigger", "TriggerEvent", "TriggerKind"]
