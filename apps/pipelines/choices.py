from django.db import models


class LastStatus(models.TextChoices):
    """The outcome of a pipeline's latest execution, denormalised for lists."""

    NEVER = "", "never run"
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCESS = "success", "success"
    FAILED = "failed", "failed"
    CANCELED = "canceled", "canceled"
