"""What a pipeline version's spec means to the scheduler, computed once per worker process.

Versions are immutable, so the decoded spec, the step table and every step's
ancestors are cached by version. The key includes the version's creation time:
a database that was emptied and refilled (a test suite does this) reuses ids.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.pipelines.models import PipelineVersion

from .decide import StepView, ancestors_of

MAX_PLANS = 256


@dataclass(frozen=True)
class Plan:
    spec: dict[str, Any]
    steps: dict[str, dict[str, Any]]  # the normalised step specs by concrete id, in declaration order
    ancestors: dict[str, frozenset[str]]
    # Every step after the steps it needs (declaration order otherwise): one scheduler pass in this
    # order carries a skip or a failure down the whole graph, wherever a step was declared.
    order: tuple[str, ...]
    dependents: dict[str, tuple[str, ...]]  # the steps that need each step
    # Matrix children whose group has max_parallel or fail_fast: a sibling's change may move them.
    constrained: frozenset[str]
    # What a decision view holds besides its id and status, per step (StepView's field order).
    view_fields: dict[str, tuple[Any, ...]]

    def views(self, statuses: dict[str, str]) -> dict[str, StepView]:
        """Fresh decision views of every step with the given statuses."""
        return {step_id: StepView(step_id, statuses[step_id], *fields) for step_id, fields in self.view_fields.items()}


_plans: dict[tuple[int, datetime], Plan] = {}
_lock = threading.Lock()


def _build(spec: dict[str, Any]) -> Plan:
    steps = {step["id"]: step for step in spec["steps"]}
    skeleton = {
        step_id: StepView(id=step_id, status="pending", needs=list(step.get("needs") or []))
        for step_id, step in steps.items()
    }
    ancestors = ancestors_of(skeleton)
    dependents: dict[str, list[str]] = {step_id: [] for step_id in steps}
    for step_id, step in steps.items():
        for need in dict.fromkeys(step.get("needs") or []):
            dependents[need].append(step_id)
    view_fields: dict[str, tuple[Any, ...]] = {}
    constrained: set[str] = set()
    for step_id, step in steps.items():
        group = step.get("matrix_group") or {}
        base_id = step["base_id"] if step.get("matrix") else ""
        if base_id and (group.get("max_parallel") or group.get("fail_fast")):
            constrained.add(step_id)
        view_fields[step_id] = (
            list(step.get("needs") or []),
            step.get("when", "on_success"),
            step.get("on_failure", "abort"),
            base_id,
            group.get("max_parallel"),
            bool(group.get("fail_fast")),
            ancestors[step_id],
        )
    return Plan(
        spec=spec,
        steps=steps,
        ancestors=ancestors,
        order=_topological(list(steps), dependents),
        dependents={step_id: tuple(found) for step_id, found in dependents.items()},
        constrained=frozenset(constrained),
        view_fields=view_fields,
    )


def _topological(ids: list[str], dependents: dict[str, list[str]]) -> tuple[str, ...]:
    """Kahn's algorithm, taking the earliest declared ready step first (the spec guarantees no cycle)."""
    position = {step_id: i for i, step_id in enumerate(ids)}
    waiting = dict.fromkeys(ids, 0)
    for found in dependents.values():
        for step_id in found:
            waiting[step_id] += 1
    ready = [position[step_id] for step_id in ids if not waiting[step_id]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        step_id = ids[heapq.heappop(ready)]
        order.append(step_id)
        for dependent in dependents[step_id]:
            waiting[dependent] -= 1
            if not waiting[dependent]:
                heapq.heappush(ready, position[dependent])
    return tuple(order)


def plan_for_version(version_id: int, created: datetime | None = None) -> Plan:
    """The version's plan; ``created`` (the version's ``created_at``) saves a query when the caller has it."""
    if created is None:
        created = PipelineVersion.objects.values_list("created_at", flat=True).get(pk=version_id)
    key = (version_id, created)
    plan = _plans.get(key)
    if plan is None:
        plan = _build(PipelineVersion.objects.values_list("spec", flat=True).get(pk=version_id))
        with _lock:
            if len(_plans) >= MAX_PLANS:
                _plans.clear()
            _plans[key] = plan
    return plan


def plan_for(execution: Any, created: datetime | None = None) -> Plan:
    return plan_for_version(execution.version_id, created)
