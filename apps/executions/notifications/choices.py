"""States and kinds of notification targets, rules and deliveries."""

from django.db import models


class TargetKind(models.TextChoices):
    EMAIL = "email", "Email"  # through Django's mail settings (EMAIL_URL) to a list of recipients
    WEBHOOK = "webhook", "Webhook"  # a JSON body rendered from a template, POSTed to a URL
    SLACK = "slack", "Slack-compatible webhook"  # {"text": ...} POSTed to the URL held by a credential


class NotificationEvent(models.TextChoices):
    FAILURE = "failure", "Run failed"
    RECOVERED = "recovered", "Run succeeded after a failure"
    APPROVAL_WAITING = "approval_waiting", "Approval waiting"
    LONG_RUNNING = "long_running", "Run longer than N minutes"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"  # recorded; the send task has not claimed it yet
    SENDING = "sending", "sending"  # claimed by a worker
    SENT = "sent", "sent"  # the target accepted it (SMTP accepted, HTTP 2xx)
    RETRYING = "retrying", "failed, retrying"  # this attempt failed; the next attempt is its own row
    FAILED = "failed", "failed"  # the last attempt failed; nothing more is tried
