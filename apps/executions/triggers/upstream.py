"""Upstream triggers: when an execution finishes, start the pipelines of its project that wait for it."""

from __future__ import annotations

from typing import Any

from apps.pipelines.models import Trigger, TriggerKind

from ..choices import ExecutionStatus
from ..models import Execution
from .fire import trigger_fire, trigger_skip

MAX_CHAIN = 20  # pipelines started by pipelines, one after another, before the chain is stopped


def _outputs(execution: Execution) -> dict[str, Any]:
    """Every step output by name (a later step's value wins) — what a downstream pipeline receives."""
    merged: dict[str, Any] = {}
    for outputs in execution.steps.order_by("position").values_list("outputs", flat=True):
        merged.update(outputs or {})
    return merged


def on_execution_finished(execution_id: int) -> int:
    """Fire the ``pipeline`` triggers listening to this execution's pipeline; returns how many started."""
    execution = Execution.objects.select_related("pipeline", "project").get(pk=execution_id)
    if execution.status not in ExecutionStatus.terminal():
        return 0
    triggers = Trigger.objects.select_related("pipeline__project", "pipeline__current_version").filter(
        kind=TriggerKind.PIPELINE, declared=True, pipeline__project_id=execution.project_id,
        config__pipeline=execution.pipeline.name,
    )  # fmt: skip
    outputs = _outputs(execution)
    depth = int(execution.trigger_info.get("depth", 0)) + 1 if execution.trigger == TriggerKind.PIPELINE else 1
    info = {"pipeline": execution.pipeline.name, "execution": execution.pk, "number": execution.number,
            "status": execution.status, "outputs": outputs, "depth": depth}  # fmt: skip
    started = 0
    for trigger in triggers:
        if not trigger.active:
            continue
        reason = ""
        if execution.status not in trigger.config.get("status", ["success"]):
            reason = f"upstream status {execution.status}"
        elif depth > MAX_CHAIN:
            reason = f"a chain of {MAX_CHAIN} pipelines started by pipelines stops here"
        if reason:
            trigger_skip(trigger=trigger, reason=reason, info=info, delivery_id=f"execution:{execution.pk}")
            continue
        version = trigger.pipeline.current_version
        declared = set(version.spec.get("inputs") or {}) if version else set()
        inputs = {name: value for name, value in outputs.items() if name in declared}
        event = trigger_fire(trigger=trigger, info=info, inputs=inputs, delivery_id=f"execution:{execution.pk}")
        started += bool(event and event.execution_id)
    return started
