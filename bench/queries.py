"""Database statements per step: one step's claim, run and finish, in this process, with every query captured.

The worker's Celery task is a thin wrapper around ``runner.run_step``, so calling
that here runs exactly the worker's code path. Besides the statements, it counts
the model instances each step builds (the rows it reads back into Python objects).
A worker process keeps its database connection from task to task and checks it
around each one (``ansflow/celery.py``); this does the same, and times opening a
connection separately (a worker pays it once, not per step).
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from typing import Any

from django.db import connection
from django.db.models import Model
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from ansflow.celery import check_connections, keep_connections
from apps.executions.choices import StepStatus
from apps.executions.engine.runner import run_step
from apps.executions.models import Execution
from apps.executions.services import execution_cancel
from apps.pipelines.models import Pipeline

from . import pipelines

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+[`\"]?(\w+)", re.IGNORECASE)
_FOR_UPDATE = re.compile(r"FOR UPDATE\s*$", re.IGNORECASE)


def shape(sql: str) -> str:
    """``SELECT executions_stepexecution FOR UPDATE``: the verb, the main table, the row lock."""
    text = sql.strip()
    verb = text.split(None, 1)[0].upper() if text else "?"
    found = _TABLE.search(text)
    table = found.group(1) if found else ""
    lock = " FOR UPDATE" if _FOR_UPDATE.search(text) else ""
    return f"{verb} {table}{lock}".strip()


def _connect_ms() -> float:
    """What opening the database connection costs (its init PRAGMAs / session settings included)."""
    connection.close()
    began = time.perf_counter()
    connection.ensure_connection()
    return round((time.perf_counter() - began) * 1000, 3)


def _run_one(step_pk: int, attempt: int) -> dict[str, Any]:
    check_connections()  # as the worker does before every task (the connection is kept)
    connected = time.perf_counter()
    built: Counter[str] = Counter()

    def count(sender: type[Model], **kwargs: Any) -> None:
        built[sender._meta.label] += 1

    post_init.connect(count, weak=False)
    try:
        with CaptureQueriesContext(connection) as captured:
            run_step(step_pk, attempt)
        ended = time.perf_counter()
    finally:
        post_init.disconnect(count)
    check_connections()
    statements = [shape(q["sql"]) for q in captured.captured_queries]
    return {
        "queries": len(statements),
        "statements": statements,
        "instances": dict(built.most_common()),
        "step_ms": round((ended - connected) * 1000, 3),
    }


def _run_steps(execution: Execution, count: int) -> list[dict[str, Any]]:
    """Run the first ``count`` queued steps in order, each as a worker would."""
    measured = []
    for _ in range(count):
        step = execution.steps.filter(status=StepStatus.QUEUED).order_by("position").first()
        if step is None:
            break
        measured.append(_run_one(step.pk, step.attempt))
    return measured


def _start(pipeline: Pipeline) -> tuple[Execution, int, float]:
    """Start a run: the execution, the statements it took, and its wall time (ms) including the sends after commit."""
    began = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        execution, _ = pipelines.start(pipeline)
    return execution, len(captured.captured_queries), round((time.perf_counter() - began) * 1000, 3)


def measure(chain_length: int = 7, fanout_width: int = 500, fanout_steps: int = 9) -> dict[str, Any]:
    """Statements to start a run and to run one step, in a short chain and in a wide fan-out."""
    keep_connections()  # this process keeps its connection as a worker process does
    connect_ms = statistics.median(_connect_ms() for _ in range(5))
    warm_up, _ = pipelines.start(pipelines.import_pipeline(pipelines.chain_yaml(2)))
    _run_steps(warm_up, 2)  # imports, the publisher's loop and its Redis connection: not part of a step
    chain = pipelines.import_pipeline(pipelines.chain_yaml(chain_length))
    execution, chain_start, chain_start_ms = _start(chain)
    chain_steps = _run_steps(execution, chain_length)
    middle = chain_steps[len(chain_steps) // 2]

    fanout = pipelines.import_pipeline(pipelines.fanout_yaml(fanout_width))
    wide, fanout_start, fanout_start_ms = _start(fanout)
    fanout_runs = _run_steps(wide, fanout_steps)
    execution_cancel(actor=pipelines.actor(), execution=wide)

    return {
        "chain_length": chain_length,
        "start_queries": chain_start,
        "start_ms": chain_start_ms,
        "per_step_queries": [s["queries"] for s in chain_steps],
        "middle_step": {
            "queries": middle["queries"],
            "statements": middle["statements"],
            "by_statement": dict(Counter(middle["statements"]).most_common()),
            "model_instances_built": middle["instances"],
        },
        "in_process_step_ms": statistics.median(s["step_ms"] for s in chain_steps),
        "connect_ms": connect_ms,
        "fanout_width": fanout_width,
        "fanout_start_queries": fanout_start,
        "fanout_start_ms": fanout_start_ms,
        "fanout_per_step_queries": [s["queries"] for s in fanout_runs],
        "fanout_model_instances_built": fanout_runs[len(fanout_runs) // 2]["instances"],
        "fanout_in_process_step_ms": statistics.median(s["step_ms"] for s in fanout_runs),
    }
