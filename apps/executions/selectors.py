"""Reads shared by pages, API, admin and consumers, with their joins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate

from apps.accounts.choices import Role
from apps.accounts.permissions import project_roles, restrict
from apps.pipelines.models import PipelineVersion

from .choices import ExecutionStatus, StepStatus
from .models import Approval, Execution, LogLine, StepExecution


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


# --- pages ------------------------------------------------------------------------------------


def execution_list() -> QuerySet[Execution]:
    """Executions for lists, newest first, with their pipeline, project, actor and version number.

    The related rows are fetched by a second query per relation, not joined: with the joins, MariaDB's
    optimizer starts from the small project table and sorts every execution row (with the version's
    large spec) in a temporary table before applying LIMIT, 1.4 s at 100,000 runs. Alone, the page is a
    backward walk of the primary key. The version is read without its spec.
    """
    versions = PipelineVersion.objects.only("id", "number", "pipeline_id")
    return Execution.objects.prefetch_related(
        "pipeline", "project", "actor", Prefetch("version", queryset=versions)
    ).order_by("-id")


def execution_page(execution_id: int) -> Execution:
    """One execution with its steps, each step's attempts and approvals (a fixed number of queries)."""
    steps = StepExecution.objects.order_by("position").prefetch_related(
        Prefetch("approvals", queryset=Approval.objects.select_related("user")), "attempts"
    )
    return executions().prefetch_related(Prefetch("steps", queryset=steps)).get(pk=execution_id)


def waiting_gates() -> QuerySet[StepExecution]:
    """Approval gates waiting for people, oldest deadline first, with what the inbox shows."""
    return (
        StepExecution.objects.filter(status=StepStatus.WAITING)
        .select_related("execution__pipeline", "execution__project", "execution__version")
        .prefetch_related(Prefetch("approvals", queryset=Approval.objects.select_related("user")))
        .order_by("deadline_at", "pk")
    )


def gate_rules(step: StepExecution) -> dict[str, Any]:
    """The ``with:`` block of an approval step in its execution's frozen spec."""
    for spec in step.execution.version.spec.get("steps") or []:
        if spec.get("id") == step.step_id:
            return dict(spec.get("with") or {})
    return {}


def approvers_allow(user: Any, rules: dict[str, Any], role_of_user: Callable[[], str | None]) -> bool:
    """A gate's approver rule: users named in ``approvers.users``, or with at least one of ``approvers.roles``
    (or higher); with neither, anyone who may approve in the project (``has_perm`` checks that).
    ``role_of_user`` is asked only when the roles decide."""
    if user.is_superuser:
        return True
    users, roles = set(rules.get("users") or []), list(rules.get("roles") or [])
    if not users and not roles:
        return True
    if user.get_username() in users:
        return True
    if not roles:
        return False
    role = role_of_user()
    return role is not None and Role.rank_of(role) >= min(Role.rank_of(r) for r in roles)


def gate_open_to(user: Any, step: StepExecution, roles_by_project: dict[int, Any]) -> bool:
    """``approvers_allow`` with the user's roles looked up once for a list; a user who already decided on the
    gate is not asked again."""
    if any(approval.user_id == user.pk for approval in step.approvals.all()):
        return False
    rules = gate_rules(step).get("approvers") or {}
    return approvers_allow(user, rules, lambda: roles_by_project.get(step.execution.project_id))


def approvals_waiting_for(user: Any, limit: int = 200) -> list[StepExecution]:
    """Gates ``user`` may decide now (the approve permission, the gate's approver rules, not yet decided)."""
    gates = restrict(waiting_gates(), user, "approve")[:limit]
    roles = project_roles(user)
    return [step for step in gates if gate_open_to(user, step, roles)]


def execution_trends(queryset: QuerySet[Execution], days: int, now: datetime) -> list[dict[str, Any]]:
    """Per day of the last ``days`` days (UTC dates, oldest first): finished runs, successes, mean duration."""
    first = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        queryset.order_by()
        .filter(finished_at__gte=first, status__in=ExecutionStatus.terminal())
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            total=Count("id"),
            ok=Count("id", filter=Q(status=ExecutionStatus.SUCCESS)),
            mean=Avg(took, filter=Q(started_at__isnull=False)),
        )
    )
    by_day: dict[Any, dict[str, Any]] = {row["day"]: dict(row) for row in rows}
    result = []
    for offset in range(days):
        day = (first + timedelta(days=offset)).date()
        row = by_day.get(day) or {}
        mean = row.get("mean")
        result.append(
            {
                "day": day,
                "total": row.get("total", 0),
                "ok": row.get("ok", 0),
                "mean_seconds": mean.total_seconds() if isinstance(mean, timedelta) else None,
            }
        )
    return result
