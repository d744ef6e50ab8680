"""Notification targets and rules of a project, and the record of every delivery attempt."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.accounts.models import Credential, Project, TimeStampedModel
from apps.pipelines.models import Pipeline

from ..notifications.choices import DeliveryStatus, NotificationEvent, TargetKind
from .execution import Execution


def default_body() -> dict[str, Any]:
    """The JSON a webhook target sends unless its template says otherwise."""
    return {
        "event": "{{ event }}",
        "status": "{{ status }}",
        "text": "{{ message }}",
        "url": "{{ url }}",
        "project": "{{ project.slug }}",
        "pipeline": "{{ pipeline.name }}",
        "execution": "{{ execution.id }}",
        "number": "{{ execution.number }}",
    }


class NotificationTarget(TimeStampedModel):
    """Where a project's notifications go: email recipients, a webhook URL or a Slack-compatible webhook."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="notification_targets")
    name = models.SlugField(max_length=100)
    kind = models.CharField(max_length=16, choices=TargetKind.choices)
    description = models.TextField(blank=True)
    recipients = models.JSONField(
        default=list, blank=True, help_text='Email: a list of addresses, ["ops@example.com"].'
    )
    url = models.CharField(
        max_length=1000, blank=True, help_text="Webhook: the http(s) URL the JSON body is POSTed to."
    )
    credential = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Webhook (optional): its secret goes in the header below and signs the body "
        "(X-AnsFlow-Signature-256). Slack: a secret-text credential holding the incoming-webhook URL.",
    )
    secret_header = models.CharField(
        max_length=100,
        blank=True,
        default="Authorization",
        help_text="Webhook: the header that carries the credential's secret ('Bearer <token>' for a bearer-token "
        "credential in Authorization); empty to only sign the body.",
    )
    body_template = models.JSONField(
        default=default_body,
        blank=True,
        help_text="Webhook: the JSON body; every string is a template over event, status, message, url, project, "
        "pipeline, execution and step.",
    )

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="notification_target_unique_name")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}" if self.project_id else self.name


class NotificationRule(TimeStampedModel):
    """When to notify: one event of a project's runs (or one pipeline's), sent to one or more targets."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="notification_rules")
    name = models.SlugField(max_length=100)
    pipeline = models.ForeignKey(
        Pipeline,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_rules",
        help_text="Only runs of this pipeline; empty for every pipeline of the project.",
    )
    event = models.CharField(max_length=32, choices=NotificationEvent.choices)
    minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="For 'run longer than N minutes': N (at least 1)."
    )
    targets = models.ManyToManyField(NotificationTarget, related_name="rules")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="notification_rule_unique_name")]
        indexes = [models.Index(fields=["event", "enabled"], name="notification_rule_event")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}" if self.project_id else self.name


class NotificationDelivery(TimeStampedModel):
    """One attempt to send one event of one run to one target; a retry is the next attempt's row.

    The first attempt is unique per rule, target, run, event and subject, so an event is sent once even
    when it is reported twice. ``message`` and ``error`` are masked with the project's credential secrets.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(
        NotificationRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    target = models.ForeignKey(
        NotificationTarget, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    target_name = models.CharField(max_length=100, help_text="The target's name when the attempt was made.")
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="notification_deliveries")
    event = models.CharField(max_length=32, choices=NotificationEvent.choices)
    subject = models.CharField(max_length=200, blank=True, help_text="What the event is about: the waiting step.")
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    response_code = models.IntegerField(null=True, blank=True, help_text="HTTP status or SMTP reply code.")
    error = models.TextField(blank=True)
    message = models.TextField(blank=True, help_text="What was sent (masked).")
    not_before = models.DateTimeField(null=True, blank=True, help_text="Backoff: not sent before this time.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "notification deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "target", "execution", "event", "subject", "attempt"], name="notification_delivery_once"
            )
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="notification_delivery_status")]

    def __str__(self) -> str:
        return f"{self.event} of {self.execution_id} to {self.target_name} (attempt {self.attempt}): {self.status}"
