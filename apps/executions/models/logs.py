"""Log lines and approvals."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.accounts.models import TimeStampedModel

from ..choices import Decision, LogStream
from .execution import Execution, StepExecution


class LogLine(models.Model):
    """One line of output, numbered per execution so viewers resume without gaps or duplicates."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="log_lines")
    step = models.ForeignKey(StepExecution, on_delete=models.CASCADE, null=True, blank=True, related_name="log_lines")
    seq = models.BigIntegerField()
    stream = models.CharField(max_length=1, choices=LogStream.choices, default=LogStream.STDOUT)
    time = models.DateTimeField()
    text = models.TextField()

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [models.UniqueConstraint(fields=["execution", "seq"], name="logline_unique_seq")]

    def __str__(self) -> str:
        return f"{self.execution_id}#{self.seq}: {self.text[:60]}"


class Approval(TimeStampedModel):
    """One person's decision on an approval gate."""

    step = models.ForeignKey(StepExecution, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["step", "created_at"]
        constraints = [models.UniqueConstraint(fields=["step", "user"], name="approval_one_per_user")]

    def __str__(self) -> str:
        return f"{self.user} {self.decision} {self.step}"
