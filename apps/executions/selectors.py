"""Reads shared by pages, API, admin and consumers, with their joins."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from .models import Execution, LogLine, StepExecution


def executions() -> QuerySet[Execution]:
    return Execution.objects.select_related("pipeline", "project", "version", "actor")


def execution_steps(execution_id: int) -> QuerySet[StepExecution]:
    return StepExecution.objects.filter(execution_id=execution_id).order_by("position")


def log_lines(execution_id: int, after: int = 0, step: str | None = None) -> QuerySet[LogLine]:
    lines = LogLine.objects.filter(execution_id=execution_id, seq__gt=after).order_by("seq")
    if step:
        lines = lines.filter(step__step_id=step)
    return lines


def log_page(execution_id: int, after: int, limit: int, step: str | None = None) -> list[dict[str, Any]]:
    """Lines after ``after`` in sequence order, as the socket and the API send them."""
    rows = log_lines(execution_id, after, step).values_list("seq", "step__step_id", "stream", "text")[:limit]
    return [{"seq": seq, "step": step_id, "stream": stream, "text": text} for seq, step_id, stream, text in rows]


def _ts(value: Any) -> str | None:
    return value.isoformat() if value else None


def status_snapshot(execution_id: int) -> dict[str, Any]:
    """The execution and all its steps, sent first on every socket so the page can draw the DAG."""
    execution = executions().get(pk=execution_id)
    return {
        "type": "status",
        "kind": "snapshot",
        "execution": execution.pk,
        "status": execution.status,
        "number": execution.number,
        "last_seq": execution.log_seq,
        "started_at": _ts(execution.started_at),
        "finished_at": _ts(execution.finished_at),
        "steps": [
            {
                "step": step.step_id,
                "status": step.status,
                "attempt": step.attempt,
                "needs": step.needs,
                "kind": step.kind,
                "exit_code": step.exit_code,
                "started_at": _ts(step.started_at),
                "finished_at": _ts(step.finished_at),
            }
            for step in execution_steps(execution_id)
        ],
    }


def execution_detail(execution_id: int) -> Execution:
    steps = StepExecution.objects.order_by("position").prefetch_related("approvals__user")
    return executions().prefetch_related(Prefetch("steps", queryset=steps)).get(pk=execution_id)


def log_search(execution_id: int, query: str, step: str | None, limit: int) -> list[dict[str, Any]]:
    lines = log_lines(execution_id, 0, step).filter(text__icontains=query)
    rows = lines.values_list("seq", "step__step_id", "stream", "text")[:limit]
    return [{"seq": seq, "step": step_id, "stream": stream, "text": text} for seq, step_id, stream, text in rows]
