"""The AnsFlow side: the benchmark pipelines, starting a run and reading back when it finished."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.accounts.models import Project
from apps.executions.choices import ExecutionStatus, StepStatus
from apps.executions.models import Execution
from apps.executions.services import execution_cancel, execution_start
from apps.pipelines.models import Pipeline
from apps.pipelines.services import pipeline_import

PROJECT = "bench"


class RunFailed(Exception):
    """A benchmark run did not finish, or did not succeed, in time."""


def actor() -> Any:
    User = get_user_model()
    user = User.objects.filter(username="bench").first()
    if user is None:
        user = User(username="bench", is_staff=True, is_superuser=True)
        user.set_unusable_password()
        user.save()
    return user


def project() -> Project:
    return Project.objects.get_or_create(slug=PROJECT, defaults={"name": "Benchmarks"})[0]


def _document(name: str, steps: list[str]) -> str:
    head = f"apiVersion: ansflow/v1\nkind: Pipeline\nmetadata: {{name: {name}, project: {PROJECT}}}\nspec:\n  steps:\n"
    return head + "".join(steps)


def chain_yaml(length: int) -> str:
    """``length`` shell steps running ``true``, each needing the one before."""
    steps = [
        f"    - {{id: s{i:03d}, type: shell, run: 'true'{f', needs: [s{i - 1:03d}]' if i else ''}}}\n"
        for i in range(length)
    ]
    return _document(f"bench-chain-{length}", steps)


def fanout_yaml(width: int) -> str:
    """``width`` independent shell steps running ``true``."""
    steps = [f"    - {{id: s{i:03d}, type: shell, run: 'true'}}\n" for i in range(width)]
    return _document(f"bench-fanout-{width}", steps)


def import_pipeline(yaml_text: str) -> Pipeline:
    return pipeline_import(actor=actor(), project=project(), yaml_text=yaml_text).pipeline


def start(pipeline: Pipeline) -> tuple[Execution, datetime]:
    """Start a run; returns it with the wall-clock time just before the start call."""
    started = timezone.now()
    return execution_start(actor=actor(), pipeline=pipeline), started


def wait_finished(execution: Execution, timeout: float) -> Execution:
    """Poll the database until the run is over (bounded); a run that did not succeed is an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = Execution.objects.get(pk=execution.pk)
        if current.status in ExecutionStatus.terminal():
            if current.status != ExecutionStatus.SUCCESS:
                raise RunFailed(f"execution {current.pk} ended {current.status}: {current.error}")
            return current
        time.sleep(0.05)
    execution_cancel(actor=actor(), execution=execution)
    done = execution.steps.filter(status=StepStatus.SUCCESS).count()
    raise RunFailed(f"execution {execution.pk} did not finish within {timeout:g} s ({done} steps succeeded)")


def run_once(pipeline: Pipeline, timeout: float) -> tuple[Execution, float]:
    """One run; returns the finished execution and seconds from the start call to ``finished_at``."""
    execution, started = start(pipeline)
    finished = wait_finished(execution, timeout)
    assert finished.finished_at is not None
    return finished, (finished.finished_at - started).total_seconds()


def _seconds(begin: datetime | None, end: datetime | None) -> float:
    if begin is None or end is None:
        raise RunFailed("a finished chain step lacks one of its timestamps")
    return (end - begin).total_seconds()


def chain_timeline(execution: Execution) -> dict[str, float]:
    """Where a chain step's time goes, from the step rows' timestamps (medians, ms).

    ``dispatch``: queued -> claimed (commit, broker, the worker picking it up, its new
    database connection); ``execute``: claimed -> finished (loading the step, rendering,
    spawning bash, reading its pipes); ``advance``: finished -> the next step queued
    (recording the attempt, the scheduler pass under the execution lock).
    """
    rows = list(execution.steps.order_by("position").values_list("queued_at", "started_at", "finished_at"))
    dispatch, execute, advance = [], [], []
    for index, (queued, started, finished) in enumerate(rows):
        dispatch.append(_seconds(queued, started))
        execute.append(_seconds(started, finished))
        if index + 1 < len(rows):
            advance.append(_seconds(finished, rows[index + 1][0]))
    return {
        "dispatch_ms": round(statistics.median(dispatch) * 1000, 3),
        "execute_ms": round(statistics.median(execute) * 1000, 3),
        "advance_ms": round(statistics.median(advance) * 1000, 3) if advance else 0.0,
    }
