"""The step runner: claim, run with a heartbeat, record the result and advance — on a worker."""

from __future__ import annotations

import copy
import functools
import logging
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ansflow.logging import engine_context
from apps.accounts.masking import mask
from apps.accounts.models import Project
from apps.pipelines.models import Pipeline, PipelineVersion
from apps.pipelines.spec import STEP_KINDS, ExpressionError, render_template, render_value

from ..choices import LogStream, StepStatus
from ..executors.base import StepContext, StepResult, executor_for
from ..models import Execution, StepAttempt, StepExecution
from . import events, statements
from .context import base_environment, expression_context
from .dbretry import with_db_retry
from .heartbeat import heartbeats
from .logsink import LogSink
from .plans import Plan, plan_for
from .scheduler import advance, lock_execution, send_after_commit
from .secrets import SecretError, resolve_secrets

logger = logging.getLogger("ansflow.engine.runner")


def worker_name() -> str:
    """Host and pool process id, so an operator can find the process that ran a step."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(step_pk: int, attempt: int) -> bool:
    """``queued -> running`` for exactly this attempt; False when another worker (or a cancel) got there first."""
    now = timezone.now()
    running = {"status": StepStatus.RUNNING, "started_at": now, "heartbeat_at": now, "worker": worker_name(),
               "updated_at": now}  # fmt: skip
    queued = {"id": step_pk, "attempt": attempt, "status": StepStatus.QUEUED}
    return statements.update(StepExecution, running, queued) == 1


# What a step's run reads, in one statement: the step, the few execution, pipeline and project columns
# its context and environment use, and the version's creation time, which keys the plan cache.
_STEP = ("id", "execution_id", "step_id", "kind", "attempt", "matrix", "status", "exit_code", "started_at",
         "finished_at", "worker")  # fmt: skip
_EXECUTION = ("id", "number", "trigger", "inputs", "trigger_info", "version_id", "actor_id", "pipeline_id",
              "project_id")  # fmt: skip
_PIPELINE = ("id", "name", "project_id")
_PROJECT = ("id", "slug", "name")
_VERSION = ("id", "created_at")


@functools.cache
def _load_sql() -> str:
    col, table = statements.column, statements.table
    columns = ", ".join(
        [col(StepExecution, name, "s") for name in _STEP]
        + [col(Execution, name, "e") for name in _EXECUTION]
        + [col(Pipeline, name, "p") for name in _PIPELINE]
        + [col(Project, name, "j") for name in _PROJECT]
        + [col(PipelineVersion, name, "v") for name in _VERSION]
    )
    return (
        f"SELECT {columns} FROM {table(StepExecution)} s"  # noqa: S608
        f" JOIN {table(Execution)} e ON {col(Execution, 'id', 'e')} = {col(StepExecution, 'execution_id', 's')}"
        f" JOIN {table(Pipeline)} p ON {col(Pipeline, 'id', 'p')} = {col(Execution, 'pipeline_id', 'e')}"
        f" JOIN {table(Project)} j ON {col(Project, 'id', 'j')} = {col(Execution, 'project_id', 'e')}"
        f" JOIN {table(PipelineVersion)} v ON {col(PipelineVersion, 'id', 'v')} = {col(Execution, 'version_id', 'e')}"
        f" WHERE {col(StepExecution, 'id', 's')} = %s"
    )


def load_claimed(step_pk: int) -> tuple[StepExecution, datetime]:
    """The step with its execution (its pipeline and project attached), and its version's creation time."""
    with connection.cursor() as cursor:
        cursor.execute(_load_sql(), [step_pk])
        found = cursor.fetchone()
    if found is None:
        raise StepExecution.DoesNotExist(f"step {step_pk} does not exist")
    row = iter(found)

    def take(names: tuple[str, ...]) -> list[Any]:
        return [next(row) for _ in names]

    step = statements.build(StepExecution, _STEP, take(_STEP))
    step.execution = statements.build(Execution, _EXECUTION, take(_EXECUTION))
    step.execution.pipeline = statements.build(Pipeline, _PIPELINE, take(_PIPELINE))
    step.execution.project = statements.build(Project, _PROJECT, take(_PROJECT))
    return step, statements.build(PipelineVersion, _VERSION, take(_VERSION)).created_at


def workspace_for(execution_id: int) -> Path:
    path = Path(settings.WORKSPACES_DIR) / str(execution_id)
    path.mkdir(parents=True, exist_ok=True)
    (path / ".ansflow").mkdir(exist_ok=True)
    return path


def run_step(step_pk: int, attempt: int) -> None:
    """The body of the Celery task: does nothing unless it wins the claim."""
    if not claim(step_pk, attempt):
        return
    step, version_created_at = load_claimed(step_pk)
    execution = step.execution
    with engine_context(execution.pk, step.step_id):
        events.step_status(execution, step)
        plan = plan_for(execution, version_created_at)
        result = _execute(execution, step, plan)
        finish_step(execution.pk, step_pk, attempt, result, plan, claimed=step)


def _execute(execution: Execution, step: StepExecution, plan: Plan) -> StepResult:
    spec = plan.steps[step.step_id]
    outputs: dict[str, str] = {}

    def on_line(stream: str, line: str) -> None:
        if stream == LogStream.STDOUT and line.startswith("::set-output "):
            name, _, value = line[len("::set-output ") :].partition("=")
            outputs[name.strip()] = value

    try:
        secrets = resolve_secrets(execution, step, spec, plan.spec.get("credentials") or [])
    except SecretError as exc:
        return StepResult(StepStatus.FAILED, error=str(exc))
    sink = LogSink(execution.pk, step.pk, step.step_id, secrets.values, on_line=on_line)
    try:
        if step.attempt > 1:
            sink.write(LogStream.SYSTEM, f"attempt {step.attempt} of {step.step_id}")
        try:
            ctx = _context(execution, step, plan.spec, spec, plan.ancestors[step.step_id], secrets.env, secrets.values)
            executor = executor_for(step.kind)
            try:
                executor.prepare(ctx)
            finally:
                # What the executor decrypted for the step (a registry's or an SSH credential) is masked in
                # every line and error of the step, whether or not the pipeline's credentials list names it.
                sink.add_secrets(ctx.secrets)
        except (ExpressionError, LookupError, ValueError) as exc:
            sink.write(LogStream.SYSTEM, f"cannot start {step.step_id}: {exc}")
            return StepResult(StepStatus.FAILED, error=mask(str(exc), sink.secrets))
        watch = heartbeats.watch(step.pk, step.attempt, executor)
        try:
            result = executor.run(ctx, sink)
        except Exception as exc:
            logger.exception("executor %s failed", step.kind)
            result = StepResult(StepStatus.FAILED, error=f"{step.kind} executor error: {exc}")
        finally:
            heartbeats.unwatch(watch)
        if result.status in (StepStatus.SUCCESS, StepStatus.FAILED):
            result = _collect_outputs(ctx, spec, outputs, result)
            # Outputs are stored, shown and handed to later steps: a secret in one is masked there as in the log.
            result.outputs = {name: mask(value, sink.secrets) for name, value in result.outputs.items()}
        if result.error:
            result.error = mask(result.error, sink.secrets)
        if result.error and result.status != StepStatus.SUCCESS:
            sink.write(LogStream.SYSTEM, f"{step.step_id}: {result.error}")
        return result
    finally:
        sink.close()


def _literal_fields(kind: Any) -> frozenset[str]:
    found = STEP_KINDS.get(kind) if isinstance(kind, str) else None
    return found.literal_fields if found else frozenset()


def _context(
    execution: Execution,
    step: StepExecution,
    pipeline_spec: dict[str, Any],
    spec: dict[str, Any],
    ancestors: frozenset[str],
    secret_env: dict[str, str],
    secret_values: list[str],
) -> StepContext:
    # The ancestors' states are read only if something is rendered (a `true` step renders nothing).
    expressions = expression_context(execution, pipeline_spec, step.matrix, ancestors)
    env = base_environment(execution, step, expressions)
    for name, value in (spec.get("env") or {}).items():
        if not isinstance(value, dict):
            env[name] = render_template(str(value), expressions)
    env.update(secret_env)
    expressions["env"] = env
    workspace = workspace_for(execution.pk)
    safe_id = "".join(ch if ch.isalnum() else "_" for ch in step.step_id)
    # Absent at the start of the attempt (the step's first ``>>`` creates it): a file left by an earlier
    # execution that had the same id (a database re-created beside old workspaces) must not lend this
    # step its outputs. Removing a file that is not there costs a lookup; creating an empty one, a write.
    output_file = workspace / ".ansflow" / f"{safe_id}-{step.attempt}.outputs"
    output_file.unlink(missing_ok=True)
    return StepContext(
        execution_id=execution.pk,
        step_pk=step.pk,
        step_id=step.step_id,
        attempt=step.attempt,
        spec=spec,
        # A kind's literal fields (an inline Ansible playbook, JSON paths) keep their own ``{{ }}``.
        params=render_value(spec.get("with") or {}, expressions, literal_fields=_literal_fields(spec.get("type"))),
        env=env,
        expressions=expressions,
        workspace=workspace,
        output_file=output_file,
        timeout=spec.get("timeout"),
        secrets=secret_values,
    )


def _collect_outputs(ctx: StepContext, spec: dict[str, Any], printed: dict[str, str], result: StepResult) -> StepResult:
    outputs = dict(result.outputs)
    outputs.update(printed)
    try:
        written = ctx.output_file.read_text(errors="replace")
    except FileNotFoundError:
        written = ""
    for line in written.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            outputs[name.strip()] = value
    declared = set(spec.get("outputs") or [])
    undeclared = sorted(set(outputs) - declared)
    if undeclared and result.status == StepStatus.SUCCESS:
        return StepResult(
            StepStatus.FAILED, exit_code=result.exit_code, error=f"undeclared outputs: {', '.join(undeclared)}"
        )
    # A failed step keeps what it declared it would publish (a play recap, say) for its
    # on_failure / always successors and for the run page.
    kept = {name: value for name, value in outputs.items() if name in declared}
    return StepResult(result.status, exit_code=result.exit_code, outputs=kept, error=result.error)


def retry_delay(policy: dict[str, Any], attempt: int) -> float:
    delay = float(policy.get("backoff") or 0) * float(policy.get("factor") or 1) ** max(attempt - 1, 0)
    cap = policy.get("max_backoff")
    return min(delay, float(cap)) if cap else delay


def should_retry(policy: dict[str, Any], status: str, exit_code: int | None, attempt: int) -> bool:
    if attempt > int(policy.get("max") or 0):
        return False
    reasons = set(policy.get("on") or ["failed", "timed_out", "lost"])
    if status == StepStatus.FAILED and ("failed" in reasons or f"exit:{exit_code}" in reasons):
        return True
    return status in (StepStatus.TIMED_OUT, StepStatus.LOST) and status in reasons


def record_attempt_end(
    execution: Execution,
    step: StepExecution,
    result: StepResult,
    now: datetime,
    to_send: list[tuple[int, int, float]],
    plan: Plan | None = None,
) -> bool:
    """Close the step's running attempt; retry per policy or make the result final.

    ``step`` is the row as its attempt was claimed (attempt, worker, started_at). The caller holds the
    execution's lock; one conditional UPDATE writes the step only while it is still running that
    attempt, so a step canceled or reaped meanwhile is left alone (False) and no attempt is recorded.
    """
    policy = (plan or plan_for(execution)).steps[step.step_id].get("retry") or {}
    fields: dict[str, Any] = {"exit_code": result.exit_code, "error": result.error, "updated_at": now}
    retrying = result.status != StepStatus.SUCCESS and not execution.cancel_requested
    delay = 0.0
    if retrying and should_retry(policy, result.status, result.exit_code, step.attempt):
        delay = retry_delay(policy, step.attempt)
        fields.update(
            attempt=step.attempt + 1,
            status=StepStatus.QUEUED,
            queued_at=now,
            not_before=now + timedelta(seconds=delay) if delay else None,
        )
    else:
        fields.update(status=result.status, finished_at=now)
        if result.status in (StepStatus.SUCCESS, StepStatus.FAILED):
            fields["outputs"] = result.outputs
    still_running = {"id": step.pk, "attempt": step.attempt, "status": StepStatus.RUNNING}
    if not statements.update(StepExecution, fields, still_running):
        return False
    statements.insert(
        StepAttempt,
        {
            "step_id": step.pk,
            "number": step.attempt,
            "status": result.status,
            "exit_code": result.exit_code,
            "error": result.error,
            "worker": step.worker,
            "started_at": step.started_at,
            "finished_at": now,
        },
    )
    for name, value in fields.items():
        setattr(step, name, value)
    if step.status == StepStatus.QUEUED:
        to_send.append((step.pk, step.attempt, delay))
    events.step_status(execution, step)
    return True


def finish_step(
    execution_id: int,
    step_pk: int,
    attempt: int,
    result: StepResult,
    plan: Plan | None = None,
    claimed: StepExecution | None = None,
) -> None:
    """Record the attempt's result and advance the execution, riding out a database outage.

    ``claimed``: the row as the worker read it after its claim, which saves reading it again.
    """

    def record() -> None:
        to_send: list[tuple[int, int, float]] = []
        with transaction.atomic():
            # Registered first, so the next steps' messages leave before this step's status events.
            send_after_commit(to_send)
            execution = lock_execution(execution_id)
            # A copy: a try that fails mid-way must not leave its changes on the instance for the next.
            step = copy.copy(claimed) if claimed is not None else StepExecution.objects.get(pk=step_pk)
            if step.attempt == attempt:
                record_attempt_end(execution, step, result, timezone.now(), to_send, plan)
            advance(execution, plan, changed=step.step_id, to_send=to_send)

    with_db_retry(record, f"finishing step {step_pk}")


def heartbeat_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT)
