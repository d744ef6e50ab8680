"""The scheduler: advances an execution under its row lock and sends ready steps after commit.

Lock order everywhere: the execution row, then its step rows. A step is sent to
Celery only after the transaction that queued it commits; a worker claims it
with a conditional update, so duplicate or stale messages do nothing.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.pipelines.spec import ExpressionError, evaluate_condition

from ..choices import ExecutionStatus, StepStatus
from ..models import Execution, StepExecution
from . import events, statements
from .context import expression_context, step_states
from .decide import RUN, Decision, StepView, decide, execution_outcome, hard_failed
from .denormalise import pipeline_record_outcome
from .plans import Plan, plan_for

logger = logging.getLogger("ansflow.engine")


def lock_execution(execution_id: int) -> Execution:
    # No joins here: MariaDB has no FOR UPDATE OF, so a join would lock the pipeline and project rows too.
    return statements.get(Execution, execution_id, lock=True)


def advance(
    execution: Execution,
    plan: Plan | None = None,
    changed: str | None = None,
    to_send: list[tuple[int, int, float]] | None = None,
) -> None:
    """Move every pending step that can move; finish the execution when nothing is left.

    Must run inside a transaction holding the execution's row lock (``lock_execution``). Reads
    one narrow row per step (no JSON) and writes only the steps that change. ``changed``: the one
    step whose status just changed, when that is the only news (a step finished or was retried).
    ``to_send``: a list already registered with ``send_after_commit`` that takes the queued steps;
    without it they are sent after commit on their own.
    """
    if execution.status in ExecutionStatus.terminal():
        return
    plan = plan or plan_for(execution)
    if changed is not None and _nothing_follows(execution, plan, changed):
        return
    rows: dict[str, tuple[int, int]] = {}
    statuses: dict[str, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(_rows_sql(), [execution.pk])
        for pk, step_id, attempt, status in cursor.fetchall():
            rows[step_id] = (pk, attempt)
            statuses[step_id] = status
    views = plan.views(statuses)
    now = timezone.now()
    sends: list[tuple[int, int, float]] = [] if to_send is None else to_send
    queued: list[int] = []

    _cancel_fail_fast_siblings(execution, views, rows, now)
    for step_id in plan.order:
        spec = plan.steps[step_id]
        view = views[step_id]
        if view.status != StepStatus.PENDING:
            continue
        decision = decide(view, views, execution.cancel_requested)
        if decision.action == "wait":
            continue
        if decision.action == "run":
            decision = _check_if(execution, spec, plan)
        pk, attempt = rows[step_id]
        if decision.action == "run" and spec["type"] == "approval":
            view.status = _wait_for_approval(pk, spec, now)
            attempt = 1
            transaction.on_commit(functools.partial(_announce_waiting, pk))
        elif decision.action == "run":
            view.status = StepStatus.QUEUED
            attempt += 1
            queued.append(pk)
            sends.append((pk, attempt, 0.0))
        else:
            view.status = {"fail": StepStatus.FAILED, "skip": StepStatus.SKIPPED}.get(
                decision.action, StepStatus.CANCELED
            )
            _set_final(pk, view.status, now, decision.reason)
        events.step_state(execution, step_id=step_id, status=view.status, attempt=attempt)
    if queued:
        _queue(queued, now)

    if execution.status == ExecutionStatus.QUEUED and any(v.status != StepStatus.PENDING for v in views.values()):
        execution.status = ExecutionStatus.RUNNING
        execution.save(update_fields=["status", "updated_at"])
        events.execution_status(execution)

    outcome = execution_outcome(views.values(), execution.cancel_requested)
    if outcome is not None:
        finish_execution(execution, outcome, now)
    if to_send is None:
        send_after_commit(sends)


@functools.cache
def _rows_sql() -> str:
    """Every step of a run as (pk, step id, attempt, status): the narrow rows a scheduler pass decides on."""
    columns = ", ".join(statements.column(StepExecution, name) for name in ("id", "step_id", "attempt", "status"))
    where = statements.column(StepExecution, "execution_id")
    return f"SELECT {columns} FROM {statements.table(StepExecution)} WHERE {where} = %s"  # noqa: S608


def _queue(pks: list[int], now: datetime) -> None:
    """``pending -> queued`` as the next attempt, for the steps a pass decided to run."""
    when = statements.value(StepExecution, "queued_at", now)
    with connection.cursor() as cursor:
        cursor.execute(_queue_sql(len(pks)), [StepStatus.QUEUED, when, when, *pks])


@functools.cache
def _queue_sql(count: int) -> str:
    col = functools.partial(statements.column, StepExecution)
    status, attempt, queued_at, not_before, updated_at, pk = (
        col(name) for name in ("status", "attempt", "queued_at", "not_before", "updated_at", "id")
    )
    return (
        f"UPDATE {statements.table(StepExecution)} SET {status} = %s, {attempt} = {attempt} + 1,"  # noqa: S608
        f" {queued_at} = %s, {not_before} = NULL, {updated_at} = %s WHERE {pk} IN ({', '.join(['%s'] * count)})"
    )


def _nothing_follows(execution: Execution, plan: Plan, changed: str) -> bool:
    """True when the change of ``changed`` can move no step and the execution is not over yet.

    Only a step's dependents and, in a matrix group with max_parallel or fail_fast, its siblings
    react to it. Without either, a pass could only find the execution finished or a step pending
    (which a full pass decides), and two index lookups tell both instead of every step's row (a
    fan-out of 500 would read 500 rows per finished step).
    """
    if execution.status != ExecutionStatus.RUNNING or execution.cancel_requested:
        return False
    if plan.dependents[changed] or changed in plan.constrained:
        return False
    with connection.cursor() as cursor:
        cursor.execute(_left_sql(), [execution.pk, StepStatus.PENDING, execution.pk, *_NOT_OVER])
        pending, running = cursor.fetchone()
    return bool(running) and not pending


_NOT_OVER = tuple(status for status in StepStatus.values if status not in StepStatus.terminal())


@functools.cache
def _left_sql() -> str:
    """Whether any step is pending, and whether any is not over yet: two index lookups, however wide the run."""
    steps, execution, status = (
        statements.table(StepExecution),
        statements.column(StepExecution, "execution_id"),
        statements.column(StepExecution, "status"),
    )
    placeholders = ", ".join(["%s"] * len(_NOT_OVER))
    return (
        f"SELECT (SELECT 1 FROM {steps} WHERE {execution} = %s AND {status} = %s LIMIT 1),"  # noqa: S608
        f" (SELECT 1 FROM {steps} WHERE {execution} = %s AND {status} IN ({placeholders}) LIMIT 1)"
    )


def _check_if(execution: Execution, spec: dict[str, Any], plan: Plan) -> Decision:
    condition = spec.get("if")
    if not condition:
        return RUN
    states = step_states(execution.pk, plan.ancestors[spec["id"]])
    try:
        allowed = evaluate_condition(condition, expression_context(execution, plan.spec, spec.get("matrix"), states))
    except ExpressionError as exc:
        return Decision("fail", f"if: {exc}")
    return RUN if allowed else Decision("skip", f"if was false: {condition}")


def _wait_for_approval(pk: int, spec: dict[str, Any], now: datetime) -> str:
    timeout = (spec.get("with") or {}).get("timeout") or spec.get("timeout")
    StepExecution.objects.filter(pk=pk).update(
        status=StepStatus.WAITING,
        attempt=1,
        started_at=now,
        deadline_at=now + timedelta(seconds=float(timeout)) if timeout else None,
        updated_at=now,
    )
    return StepStatus.WAITING


def _set_final(pk: int, status: str, now: datetime, error: str) -> None:
    StepExecution.objects.filter(pk=pk).update(status=status, finished_at=now, error=error, updated_at=now)


def _cancel_fail_fast_siblings(
    execution: Execution, views: dict[str, StepView], rows: dict[str, tuple[int, int]], now: datetime
) -> None:
    failed_groups = {v.base_id for v in views.values() if v.fail_fast and v.base_id and hard_failed(v)}
    for view in views.values():
        if view.base_id in failed_groups and view.status in (StepStatus.QUEUED, StepStatus.RUNNING):
            # A running sibling's watchdog sees the status change and kills its process group.
            pk, attempt = rows[view.id]
            _set_final(pk, StepStatus.CANCELED, now, "fail_fast: a sibling failed")
            view.status = StepStatus.CANCELED
            events.step_state(execution, step_id=view.id, status=view.status, attempt=attempt)


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


def _announce_waiting(step_pk: int) -> None:
    """Notification rules react to an approval gate that starts waiting."""
    from ..tasks import notify_approval_waiting

    notify_approval_waiting.delay(step_pk)


def _start_next_in_group(project_id: int, group: str) -> None:
    from ..tasks import start_queued_in_group

    start_queued_in_group.delay(project_id, group)


def send_after_commit(to_send: list[tuple[int, int, float]]) -> None:
    """Send ``(step pk, attempt, delay)`` messages once the transaction commits.

    The list is read at commit, so it may be registered first and filled later: callbacks run in
    the order they were registered, and a message registered before the status events goes out
    before they are handed to the publisher.
    """

    def send() -> None:
        from ..tasks import run_step

        if not to_send:
            return
        # One producer for the batch, as Celery's own group sends: a fan-out's start sends hundreds.
        with run_step.app.producer_or_acquire() as producer:
            for step_pk, attempt, delay in to_send:
                run_step.apply_async((step_pk, attempt), countdown=delay or None, producer=producer)

    transaction.on_commit(send)


def advance_by_id(execution_id: int) -> None:
    with transaction.atomic():
        advance(lock_execution(execution_id))
