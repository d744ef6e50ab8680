from django.db import models


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "queued"  # created; waiting for a concurrency slot or its first step
    RUNNING = "running", "running"  # at least one step has been queued
    SUCCESS = "success", "success"  # every step finished; none failed with on_failure: abort
    FAILED = "failed", "failed"  # a step failed (or timed out / was lost) with on_failure: abort
    CANCELED = "canceled", "canceled"  # stopped by a user or by cancel_in_progress

    @classmethod
    def terminal(cls) -> frozenset[str]:
        return frozenset({cls.SUCCESS, cls.FAILED, cls.CANCELED})


class StepStatus(models.TextChoices):
    PENDING = "pending", "pending"  # waiting for its needs
    QUEUED = "queued", "queued"  # sent to the workers (or waiting out a retry backoff)
    RUNNING = "running", "running"  # claimed by a worker, heartbeating
    SUCCESS = "success", "success"
    FAILED = "failed", "failed"  # non-zero exit, executor error or rejected approval
    SKIPPED = "skipped", "skipped"  # its when/if said no, or its needs did not succeed
    CANCELED = "canceled", "canceled"
    WAITING = "waiting", "waiting"  # an approval gate waiting for people
    TIMED_OUT = "timed_out", "timed out"  # killed by the runner at its timeout
    LOST = "lost", "lost"  # its worker stopped heartbeating (crashed or killed)

    @classmethod
    def terminal(cls) -> frozenset[str]:
        return frozenset({cls.SUCCESS, cls.FAILED, cls.SKIPPED, cls.CANCELED, cls.TIMED_OUT, cls.LOST})

    @classmethod
    def failures(cls) -> frozenset[str]:
        return frozenset({cls.FAILED, cls.TIMED_OUT, cls.LOST})


class LogStream(models.TextChoices):
    STDOUT = "o", "stdout"
    STDERR = "e", "stderr"
    SYSTEM = "s", "system"  # lines the engine itself writes (retries, timeouts, cancels)


class Decision(models.TextChoices):
    APPROVE = "approve", "approve"
    REJECT = "reject", "reject"
