"""Writes of triggers: sync from a new version, add/change/remove through the API, switch on/off, webhook
secrets, and the record of each firing."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.accounts import crypto
from apps.accounts.services import audit_record

from ..models import Pipeline
from ..spec.triggers import parse_cron
from .config import trigger_config_check, trigger_name_check, trigger_secret_check
from .models import EventOutcome, Trigger, TriggerEvent, TriggerKind, TriggerOrigin

SCHEDULE_TASK = "executions.fire_schedule"


def _declarations(spec: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    on = spec.get("triggers") or {}
    wanted: dict[str, tuple[str, dict[str, Any]]] = {
        "api": (TriggerKind.API, {"enabled": on.get("api", True)}),
        "manual": (TriggerKind.MANUAL, {"enabled": on.get("manual", True)}),
    }
    for index, entry in enumerate(on.get("schedule") or []):
        wanted[f"schedule[{index}]"] = (TriggerKind.SCHEDULE, entry)
    if on.get("webhook"):
        wanted["webhook"] = (TriggerKind.WEBHOOK, on["webhook"])
    for index, entry in enumerate(on.get("pipeline") or []):
        wanted[f"pipeline[{index}]"] = (TriggerKind.PIPELINE, entry)
    return wanted


def triggers_sync(*, pipeline: Pipeline, spec: dict[str, Any]) -> list[Trigger]:
    """Make the pipeline's trigger rows match ``spec`` (its new current version). Call inside its transaction.

    Rows are matched by where they are declared, so an operator's ``enabled`` switch, a webhook's URL and
    secret and a schedule's last run survive new versions; triggers no longer declared stop firing.
    """
    wanted = _declarations(spec)
    # Triggers added through the API are the operators' own: a new version leaves them alone.
    existing = {
        t.key: t for t in Trigger.objects.select_for_update().filter(pipeline=pipeline, origin=TriggerOrigin.SPEC)
    }
    result = []
    for key, (kind, config) in wanted.items():
        trigger = existing.pop(key, None) or Trigger(pipeline=pipeline, key=key)
        trigger.kind, trigger.config, trigger.declared = kind, config, True
        if kind == TriggerKind.WEBHOOK and not trigger.secret_ciphertext:
            _set_secret(trigger, secrets.token_urlsafe(32))
        trigger.save()
        _sync_schedule(trigger)
        result.append(trigger)
    for trigger in existing.values():
        trigger.declared = False
        trigger.save(update_fields=["declared", "updated_at"])
        _sync_schedule(trigger)
    return result


def _sync_schedule(trigger: Trigger) -> None:
    if trigger.kind != TriggerKind.SCHEDULE:
        return
    if not trigger.declared:
        if trigger.periodic_task is not None:
            trigger.periodic_task.delete()
        return
    fields = parse_cron(trigger.config["cron"])
    crontab, _ = CrontabSchedule.objects.get_or_create(**fields, timezone=trigger.config.get("timezone") or "UTC")
    task = trigger.periodic_task or PeriodicTask(name=f"ansflow-trigger-{trigger.pk}", task=SCHEDULE_TASK)
    if task.crontab_id != crontab.pk:
        task.last_run_at = None  # a new schedule starts counting from now, not from the old one
    task.crontab = crontab
    task.args = json.dumps([trigger.pk])
    task.enabled = trigger.active
    task.description = f"Schedule trigger of pipeline {trigger.pipeline}"
    task.save()
    if trigger.periodic_task_id != task.pk:
        trigger.periodic_task = task
        trigger.save(update_fields=["periodic_task", "updated_at"])


def _set_secret(trigger: Trigger, secret: str) -> None:
    trigger.secret_key_id, trigger.secret_wrapped_key, trigger.secret_ciphertext = crypto.encrypt({"secret": secret})


def trigger_webhook_secret(trigger: Trigger) -> str:
    """The webhook's shared secret, decrypted (for verifying deliveries and showing it to maintainers)."""
    if not trigger.secret_ciphertext:
        return ""
    return crypto.decrypt(trigger.secret_key_id, trigger.secret_wrapped_key, trigger.secret_ciphertext)["secret"]


@transaction.atomic
def trigger_rotate_secret(*, actor: Any, trigger: Trigger, request: Any = None) -> str:
    """A new webhook secret; returns it (the only time it is shown in clear)."""
    secret = secrets.token_urlsafe(32)
    _set_secret(trigger, secret)
    trigger.save(update_fields=["secret_key_id", "secret_wrapped_key", "secret_ciphertext", "updated_at"])
    audit_record(actor=actor, verb="trigger.rotate_secret", target=trigger.pipeline, changes={"trigger": trigger.key},
                 request=request)  # fmt: skip
    return secret


@transaction.atomic
def trigger_set_enabled(*, actor: Any, trigger: Trigger, enabled: bool, request: Any = None) -> Trigger:
    """Switch a trigger on or off; a switched-off trigger does nothing (its schedule is paused too)."""
    trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
    trigger.enabled = enabled
    trigger.save(update_fields=["enabled", "updated_at"])
    _sync_schedule(trigger)
    audit_record(actor=actor, verb="trigger.enable" if enabled else "trigger.disable", target=trigger.pipeline,
                 changes={"trigger": trigger.key}, request=request)  # fmt: skip
    return trigger


class TriggerConflict(ValueError):
    """The change contradicts the pipeline's YAML (a declared trigger is changed or removed there)."""


def _api_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


@transaction.atomic
def trigger_create(
    *,
    actor: Any,
    pipeline: Pipeline,
    kind: str,
    name: str,
    config: Any,
    enabled: bool = True,
    secret: str = "",
    request: Any = None,
) -> Trigger:
    """Add a schedule, webhook or upstream-pipeline trigger to ``pipeline`` without a new version.

    ``config`` is what one ``spec.on`` entry of that kind declares, checked the same way; a webhook needs
    the shared ``secret`` its sender signs with (never shown again). New versions leave the trigger alone.
    """
    errors: dict[str, Any] = {}
    if problem := trigger_name_check(name):
        errors["name"] = problem
    elif Trigger.objects.filter(pipeline=pipeline, key=_api_key(kind, name)).exists():
        errors["name"] = f"This pipeline already has a {kind} trigger named {name!r}."
    try:
        normalised = trigger_config_check(kind=kind, config=config, pipeline=pipeline)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if kind == TriggerKind.WEBHOOK and (problem := trigger_secret_check(secret)):
        errors["secret"] = problem
    elif kind != TriggerKind.WEBHOOK and secret:
        errors["secret"] = "Only webhook triggers have a secret."  # noqa: S105  (a message)
    if errors:
        raise ValidationError(errors)
    trigger = Trigger(pipeline=pipeline, kind=kind, key=_api_key(kind, name), config=normalised,
                      origin=TriggerOrigin.API, enabled=enabled)  # fmt: skip
    if kind == TriggerKind.WEBHOOK:
        _set_secret(trigger, secret)
    try:
        with transaction.atomic():
            trigger.save()
    except IntegrityError:  # the same name added concurrently
        raise ValidationError({"name": f"This pipeline already has a {kind} trigger named {name!r}."}) from None
    _sync_schedule(trigger)
    audit_record(actor=actor, verb="trigger.create", target=pipeline, request=request,
                 changes={"trigger": trigger.key, "kind": kind, "config": normalised, "enabled": enabled})  # fmt: skip
    return trigger


@transaction.atomic
def trigger_update(
    *,
    actor: Any,
    trigger: Trigger,
    config: Any = None,
    enabled: bool | None = None,
    secret: str | None = None,
    request: Any = None,
) -> Trigger:
    """Change a trigger: its ``config`` (only a trigger added through the API: a declared one changes in the
    YAML), whether it is ``enabled``, or a webhook's ``secret``. Fields left None stay as they are."""
    trigger = Trigger.objects.select_for_update().select_related("pipeline__current_version").get(pk=trigger.pk)
    changes: dict[str, Any] = {"trigger": trigger.key}
    if config is not None and config != trigger.config:
        if trigger.origin == TriggerOrigin.SPEC:
            raise TriggerConflict(f"{trigger.key} is declared in the pipeline's YAML (spec.on): change it there.")
        normalised = trigger_config_check(kind=trigger.kind, config=config, pipeline=trigger.pipeline)
        changes["config"] = [trigger.config, normalised]
        trigger.config = normalised
    if secret is not None:
        if trigger.kind != TriggerKind.WEBHOOK:
            raise ValidationError({"secret": "Only webhook triggers have a secret."})
        if problem := trigger_secret_check(secret):
            raise ValidationError({"secret": problem})
        _set_secret(trigger, secret)
        changes["secret"] = "changed"  # noqa: S105  (never the value)
    if enabled is not None and enabled != trigger.enabled:
        changes["enabled"] = [trigger.enabled, enabled]
        trigger.enabled = enabled
    trigger.save()
    _sync_schedule(trigger)
    audit_record(actor=actor, verb="trigger.update", target=trigger.pipeline, changes=changes, request=request)
    return trigger


@transaction.atomic
def trigger_delete(*, actor: Any, trigger: Trigger, request: Any = None) -> None:
    """Remove a trigger added through the API, or a declared one the current version no longer declares;
    its firing record goes with it."""
    trigger = Trigger.objects.select_for_update().select_related("periodic_task").get(pk=trigger.pk)
    if trigger.origin == TriggerOrigin.SPEC and trigger.declared:
        raise TriggerConflict(
            f"{trigger.key} is declared in the pipeline's YAML (spec.on): remove it there, or switch it off."
        )
    audit_record(actor=actor, verb="trigger.delete", target=trigger.pipeline, changes={"trigger": trigger.key},
                 request=request)  # fmt: skip
    if trigger.periodic_task is not None:
        trigger.periodic_task.delete()
    trigger.delete()


def trigger_record(
    *,
    trigger: Trigger,
    outcome: str,
    reason: str = "",
    execution_id: int | None = None,
    delivery_id: str | None = None,
    info: dict[str, Any] | None = None,
) -> TriggerEvent:
    """Record one firing. With a ``delivery_id`` a second record of the same delivery raises IntegrityError,
    so call it inside the transaction that starts the run: a duplicate delivery then starts nothing."""
    event = TriggerEvent.objects.create(
        trigger=trigger,
        outcome=outcome,
        reason=reason[:2000],
        execution_id=execution_id,
        delivery_id=delivery_id,
        info=info or {},
    )
    Trigger.objects.filter(pk=trigger.pk).update(
        last_fired_at=timezone.now(), last_outcome=outcome, last_reason=reason[:2000],
        last_execution_id=execution_id if outcome == EventOutcome.STARTED else trigger.last_execution_id,
    )  # fmt: skip
    return event
