"""``trigger_fire``: start a run for a trigger, record what happened, start nothing twice for one delivery."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from apps.pipelines.models import EventOutcome, Trigger, TriggerEvent
from apps.pipelines.spec import ExpressionError, InputError, render_value
from apps.pipelines.triggers.services import trigger_record

from ..services.runs import RunError, execution_start

logger = logging.getLogger("ansflow.triggers")


def render_inputs(template: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """A trigger's declared inputs, templates rendered over ``trigger`` (the event)."""
    return {name: render_value(value, {"trigger": dict(info)}) for name, value in template.items()}


def trigger_fire(
    *,
    trigger: Trigger,
    info: Mapping[str, Any],
    inputs: Mapping[str, Any] | None = None,
    delivery_id: str | None = None,
) -> TriggerEvent | None:
    """Start the trigger's pipeline with ``inputs`` overlaid by its declared inputs rendered over ``info``.

    Returns the recorded event: ``started`` with the execution, or ``failed`` with the reason (invalid
    inputs, no version, a template error). Returns None for a delivery id already recorded: the run
    and the record are one transaction, so a duplicate delivery starts nothing, even concurrently.
    """
    info = {**info, "trigger_id": trigger.pk, "kind": trigger.kind}
    try:
        with transaction.atomic():
            execution_id, outcome, reason = None, EventOutcome.STARTED, ""
            try:
                with transaction.atomic():
                    values = {**(inputs or {}), **render_inputs(trigger.config.get("inputs") or {}, info)}
                    execution = execution_start(
                        actor=None, pipeline=trigger.pipeline, inputs=values, trigger=trigger.kind, trigger_info=info
                    )
                    execution_id = execution.pk
            except (InputError, RunError, ExpressionError) as exc:
                outcome, reason = EventOutcome.FAILED, str(exc)
                logger.info("trigger %s could not start a run: %s", trigger.pk, reason)
            return trigger_record(trigger=trigger, outcome=outcome, reason=reason, execution_id=execution_id,
                                  delivery_id=delivery_id, info=_summary(info))  # fmt: skip
    except IntegrityError:
        if delivery_id and TriggerEvent.objects.filter(trigger=trigger, delivery_id=delivery_id).exists():
            return None
        raise


def trigger_skip(*, trigger: Trigger, reason: str, info: Mapping[str, Any], delivery_id: str | None = None) -> None:
    """Record an event that was filtered out (a branch, tag, path or status that does not match)."""
    try:
        with transaction.atomic():
            trigger_record(trigger=trigger, outcome=EventOutcome.SKIPPED, reason=reason, delivery_id=delivery_id,
                           info=_summary(info))  # fmt: skip
    except IntegrityError:
        pass  # a redelivery of an event already recorded


def _summary(info: Mapping[str, Any]) -> dict[str, Any]:
    """What the event record keeps: the small scalar facts, not whole payloads."""
    return {k: v for k, v in info.items() if isinstance(v, str | int | float | bool) or v is None}
