"""The scheduler: advances an execution under its row lock and sends ready steps after commit.

Lock order everywhere: the execution row, then its step rows. A step is sent to
Celery only after the transaction that queued it commits; a worker claims it
with a conditional update, so duplicate or stale messages do nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.pipelines.spec import ExpressionError, evaluate_condition

from ..choices import ExecutionStatus, StepStatus
from ..models import Execution, StepExecution
from . import events
from .context import expression_context
from .decide import RUN, Decision, StepView, ancestors_of, decide, execution_outcome, hard_failed
from .denormalise import pipeline_record_outcome

logger = logging.getLogger("ansflow.engine")


def spec_steps(execution: Execution) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in execution.version.spec["steps"]}


def _views(execution: Execution, rows: list[StepExecution]) -> dict[str, StepView]:
    specs = spec_steps(execution)
    views: dict[str, StepView] = {}
    for row in rows:
        spec = specs[row.step_id]
        group = spec.get("matrix_group") or {}
        views[row.step_id] = StepView(
            id=row.step_id,
            status=row.status,
            needs=list(row.needs),
            when=spec.get("when", "on_success"),
            on_failure=spec.get("on_failure", "abort"),
            base_id=row.base_id if spec.get("matrix") else "",
            max_parallel=group.get("max_parallel"),
            fail_fast=bool(group.get("fail_fast")),
        )
    ancestors = ancestors_of(views)
    for step_id, view in views.items():
        view.ancestors = ancestors[step_id]
    return views


def lock_execution(execution_id: int) -> Execution:
    return Execution.objects.select_for_update().select_related("version", "pipeline", "project").get(pk=execution_id)


def advance(execution: Execution) -> None:
    """Move every pending step that can move; finish the execution when nothing is left.

    Must run inside a transaction holding the execution's row lock (``lock_execution``).
    """
    if execution.status in ExecutionStatus.terminal():
        return
    rows = list(execution.steps.select_for_update().order_by("position"))
    by_id = {row.step_id: row for row in rows}
    views = _views(execution, rows)
    specs = spec_steps(execution)
    now = timezone.now()
    to_send: list[tuple[int, int, float]] = []

    _cancel_fail_fast_siblings(execution, views, by_id, now)
    for row in rows:
        if row.status != StepStatus.PENDING:
            continue
        view = views[row.step_id]
        decision = decide(view, views, execution.cancel_requested)
        if decision.action == "wait":
            continue
        if decision.action == "run":
            decision = _check_if(execution, row, specs[row.step_id], rows)
        if decision.action == "run":
            _ready(execution, row, specs[row.step_id], now, to_send)
        elif decision.action == "fail":
            _finish(row, StepStatus.FAILED, now, error=decision.reason)
        else:
            status = StepStatus.SKIPPED if decision.action == "skip" else StepStatus.CANCELED
            _finish(row, status, now, error=decision.reason)
        view.status = row.status
        events.step_status(execution, row)

    if execution.status == ExecutionStatus.QUEUED and any(r.status != StepStatus.PENDING for r in rows):
        execution.status = ExecutionStatus.RUNNING
        execution.save(update_fields=["status", "updated_at"])
        events.execution_status(execution)

    outcome = execution_outcome(views.values(), execution.cancel_requested)
    if outcome is not None:
        finish_execution(execution, outcome, now)
    send_after_commit(to_send)


def _check_if(execution: Execution, row: StepExecution, spec: dict[str, Any], rows: list[StepExecution]) -> Decision:
    condition = spec.get("if")
    if not condition:
        return RUN
    try:
        allowed = evaluate_condition(condition, expression_context(execution, row, rows))
    except ExpressionError as exc:
        return Decision("fail", f"if: {exc}")
    return RUN if allowed else Decision("skip", f"if was false: {condition}")


def _ready(
    execution: Execution, row: StepExecution, spec: dict[str, Any], now: datetime, to_send: list[tuple[int, int, float]]
) -> None:
    if row.kind == "approval":
        timeout = (spec.get("with") or {}).get("timeout") or spec.get("timeout")
        row.status = StepStatus.WAITING
        row.attempt = 1
        row.started_at = now
        row.deadline_at = now + timedelta(seconds=float(timeout)) if timeout else None
        row.save(update_fields=["status", "attempt", "started_at", "deadline_at", "updated_at"])
        return
    queue_attempt(row, now, delay=0.0, to_send=to_send)


def queue_attempt(row: StepExecution, now: datetime, delay: float, to_send: list[tuple[int, int, float]]) -> None:
    """Queue the step's next attempt, to be sent after commit (after ``delay`` seconds of backoff)."""
    row.attempt += 1
    row.status = StepStatus.QUEUED
    row.queued_at = now
    row.not_before = now + timedelta(seconds=delay) if delay else None
    row.save(update_fields=["attempt", "status", "queued_at", "not_before", "updated_at"])
    to_send.append((row.pk, row.attempt, delay))


def _finish(row: StepExecution, status: str, now: datetime, error: str = "") -> None:
    row.status = status
    row.finished_at = now
    if error:
        row.error = error
    row.save(update_fields=["status", "finished_at", "error", "updated_at"])


def _cancel_fail_fast_siblings(
    execution: Execution, views: dict[str, StepView], by_id: dict[str, StepExecution], now: datetime
) -> None:
    failed_groups = {v.base_id for v in views.values() if v.fail_fast and v.base_id and hard_failed(v)}
    for view in views.values():
        if view.base_id in failed_groups and view.status in (StepStatus.QUEUED, StepStatus.RUNNING):
            row = by_id[view.id]
            # A running sibling's watchdog sees the status change and kills its process group.
            _finish(row, StepStatus.CANCELED, now, error="fail_fast: a sibling failed")
            view.status = row.status
            events.step_status(execution, row)


def finish_execution(execution: Execution, outcome: str, now: datetime | None = None) -> None:
    execution.status = outcome
    execution.finished_at = now or timezone.now()
    execution.started_at = execution.started_at or execution.finished_at
    execution.save(update_fields=["status", "finished_at", "started_at", "updated_at"])
    pipeline_record_outcome(execution)
    events.execution_status(execution)
    if execution.concurrency_group:
        project_id, group = execution.project_id, execution.concurrency_group
        transaction.on_commit(lambda: _start_next_in_group(project_id, group))
    transaction.on_commit(lambda: _announce_finished(execution.pk))


def _announce_finished(execution_id: int) -> None:
    """Upstream triggers and notifications react to the final state (``tasks.execution_finished``)."""
    from ..tasks import execution_finished

    execution_finished.delay(execution_id)


def _start_next_in_group(project_id: int, group: str) -> None:
    from ..tasks import start_queued_in_group

    start_queued_in_group.delay(project_id, group)


def send_after_commit(to_send: list[tuple[int, int, float]]) -> None:
    if not to_send:
        return

    def send() -> None:
        from ..tasks import run_step

        for step_pk, attempt, delay in to_send:
            run_step.apply_async((step_pk, attempt), countdown=delay or None)

    transaction.on_commit(send)


def advance_by_id(execution_id: int) -> None:
    with transaction.atomic():
        advance(lock_execution(execution_id))
