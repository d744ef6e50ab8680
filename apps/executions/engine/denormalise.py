"""Keeps the pipeline's denormalised "last run" fields in step with its executions."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from apps.pipelines.models import Pipeline

from ..models import Execution


def pipeline_record_outcome(execution: Execution) -> None:
    """After commit, in its own statement: executions never hold a pipeline lock (lock order)."""
    pipeline_id, execution_id, status = execution.pipeline_id, execution.pk, execution.status
    at = execution.started_at or execution.created_at

    def update() -> None:
        # Only the latest execution speaks for the pipeline.
        Pipeline.objects.filter(pk=pipeline_id).filter(
            Q(last_execution_id__isnull=True) | Q(last_execution_id__lte=execution_id)
        ).update(last_status=status, last_execution_id=execution_id, last_run_at=at)

    transaction.on_commit(update)
