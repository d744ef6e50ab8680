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

    def views(self, statuses: dict[str, str]) -> dict[str, StepView]:
        """Fresh decision views of every step with the given statuses."""
        views: dict[str, StepView] = {}
        for step_id, spec in self.steps.items():
            group = spec.get("matrix_group") or {}
            views[step_id] = StepView(
                id=step_id,
                status=statuses[step_id],
                needs=list(spec.get("needs") or []),
                when=spec.get("when", "on_success"),
                on_failure=spec.get("on_failure", "abort"),
                base_id=spec["base_id"] if spec.get("matrix") else "",
                max_parallel=group.get("max_parallel"),
                fail_fast=bool(group.get("fail_fast")),
                ancestors=self.ancestors[step_id],
            )
        return views


_plans: dict[tuple[int, datetime], Plan] = {}
_lock = threading.Lock()


def _build(spec: dict[str, Any]) -> Plan:
    steps = {step["id"]: step for step in spec["steps"]}
    skeleton = {
        step_id: StepView(id=step_id, status="pending", needs=list(step.get("needs") or []))
        for step_id, step in steps.items()
    }
    return Plan(spec=spec, steps=steps, ancestors=ancestors_of(skeleton), order=_topological(steps))


def _topological(steps: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """Kahn's algorithm, taking the earliest declared ready step first (the spec guarantees no cycle)."""
    ids = list(steps)
    position = {step_id: i for i, step_id in enumerate(ids)}
    waiting = {step_id: len(set(steps[step_id].get("needs") or [])) for step_id in ids}
    dependents: dict[str, list[str]] = {step_id: [] for step_id in ids}
    for step_id in ids:
        for need in set(steps[step_id].get("needs") or []):
            dependents[need].append(step_id)
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
