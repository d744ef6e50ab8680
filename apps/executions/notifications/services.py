"""Writes of notification targets and rules. Keyword-only, atomic, audited in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import jinja2
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from apps.accounts.choices import CredentialKind
from apps.accounts.models import Project
from apps.accounts.services import audit_record, credential_secrets_only
from apps.pipelines.models import Pipeline

from ..models import NotificationRule, NotificationTarget
from .choices import NotificationEvent, TargetKind
from .messages import project_secrets

TARGET_FIELDS = ("name", "kind", "description", "recipients", "url", "credential", "secret_header", "body_template")
RULE_FIELDS = ("name", "pipeline", "event", "minutes", "enabled")
_SYNTAX = jinja2.sandbox.SandboxedEnvironment()


def _http_url(value: Any) -> bool:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port out of range
    except (TypeError, ValueError, AttributeError):  # not text, a broken IPv6 address, a bad port
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _template_strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _template_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _template_strings(item)


def notification_target_validate(target: NotificationTarget) -> None:
    """Raises ValidationError naming each bad field of an (unsaved or changed) target."""
    errors: dict[str, str] = {}
    if NotificationTarget.objects.filter(project_id=target.project_id, name=target.name).exclude(pk=target.pk).exists():
        errors["name"] = f"The project already has a notification target named {target.name!r}."
    if target.credential is not None and target.credential.project_id != target.project_id:
        errors["credential"] = "The credential belongs to another project."
    if target.kind == TargetKind.EMAIL:
        recipients = target.recipients
        if not isinstance(recipients, list) or not recipients or not all(isinstance(r, str) for r in recipients):
            errors["recipients"] = 'A list of at least one address, e.g. ["ops@example.com"].'
        else:
            bad = [address for address in recipients if not _valid_email(address)]
            if bad:
                errors["recipients"] = f"Not an email address: {', '.join(bad)}."
    elif target.kind == TargetKind.WEBHOOK:
        if not _http_url(target.url):
            errors["url"] = "An http:// or https:// URL is required."
        if not isinstance(target.body_template, dict):
            errors["body_template"] = "The body template must be a JSON object."
        else:
            for text in _template_strings(target.body_template):
                try:
                    _SYNTAX.parse(text)
                except jinja2.TemplateSyntaxError as exc:
                    errors["body_template"] = f"Template {text!r}: {exc.message}."
                    break
    elif target.kind == TargetKind.SLACK and "credential" not in errors:
        if target.credential is None or target.credential.kind != CredentialKind.SECRET_TEXT:
            errors["credential"] = "A secret-text credential holding the incoming-webhook URL is required."
        elif not _http_url(credential_secrets_only(credential=target.credential).get("secret", "")):
            errors["credential"] = "The credential's secret is not an http(s) URL."
    if errors:
        raise ValidationError(errors)
    target.full_clean()


def _valid_email(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _audit_changes(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: str(getattr(obj, name)) for name in names}


def _target_secrets(project_id: int, *urls: str) -> list[str]:
    """What a target's audit record must not show: the project's credential secrets and URL passwords."""
    secrets = project_secrets(project_id)
    for url in urls:
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            secrets.append(password)
    return secrets


@transaction.atomic
def notification_target_create(*, actor: Any, project: Project, **fields: Any) -> NotificationTarget:
    """Creates an email, webhook or Slack target of ``project`` from its fields (``TARGET_FIELDS``)."""
    unknown = sorted(set(fields) - set(TARGET_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Not a field of a notification target."))
    target = NotificationTarget(project=project, **fields)
    notification_target_validate(target)
    target.save()
    audit_record(actor=actor, verb="notification_target.create", target=target, project=project,
                 changes=_audit_changes(target, fields), secrets=_target_secrets(project.pk, target.url))  # fmt: skip
    return target


@transaction.atomic
def notification_target_update(*, actor: Any, target: NotificationTarget, **fields: Any) -> NotificationTarget:
    """Changes the given fields of a target."""
    locked = NotificationTarget.objects.select_for_update().get(pk=target.pk)
    old_url = locked.url
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in TARGET_FIELDS:
            raise ValidationError({name: "Not a field of a notification target."})
        if getattr(locked, name) != value:
            changes[name] = [str(getattr(locked, name)), str(value)]
            setattr(locked, name, value)
    notification_target_validate(locked)
    locked.save()
    audit_record(actor=actor, verb="notification_target.update", target=locked, project=locked.project,
                 changes=changes, secrets=_target_secrets(locked.project_id, old_url, locked.url))  # fmt: skip
    return locked


@transaction.atomic
def notification_target_delete(*, actor: Any, target: NotificationTarget) -> None:
    audit_record(actor=actor, verb="notification_target.delete", target=target, project=target.project)
    target.delete()


def notification_rule_validate(rule: NotificationRule, targets: list[NotificationTarget]) -> None:
    """Raises ValidationError naming each bad field of a rule with these targets."""
    errors: dict[str, str] = {}
    if NotificationRule.objects.filter(project_id=rule.project_id, name=rule.name).exclude(pk=rule.pk).exists():
        errors["name"] = f"The project already has a notification rule named {rule.name!r}."
    if rule.pipeline is not None and rule.pipeline.project_id != rule.project_id:
        errors["pipeline"] = "The pipeline belongs to another project."
    if rule.event == NotificationEvent.LONG_RUNNING:
        if not rule.minutes or rule.minutes < 1:
            errors["minutes"] = "How many minutes a run may take before this rule fires (at least 1)."
    elif rule.minutes is not None:
        errors["minutes"] = "Only a 'run longer than N minutes' rule takes minutes."
    if not targets:
        errors["targets"] = "At least one target."
    elif any(target.project_id != rule.project_id for target in targets):
        errors["targets"] = "Every target must belong to the rule's project."
    if errors:
        raise ValidationError(errors)
    rule.full_clean()


@transaction.atomic
def notification_rule_create(
    *,
    actor: Any,
    project: Project,
    name: str,
    event: str,
    targets: Iterable[NotificationTarget],
    pipeline: Pipeline | None = None,
    minutes: int | None = None,
    enabled: bool = True,
) -> NotificationRule:
    """Creates a rule: ``event`` of the project's runs (or ``pipeline``'s) goes to ``targets``."""
    targets = list(targets)
    rule = NotificationRule(project=project, name=name, event=event, pipeline=pipeline, minutes=minutes,
                            enabled=enabled)  # fmt: skip
    notification_rule_validate(rule, targets)
    rule.save()
    rule.targets.set(targets)
    changes = {**_audit_changes(rule, RULE_FIELDS), "targets": sorted(t.name for t in targets)}
    audit_record(actor=actor, verb="notification_rule.create", target=rule, project=project, changes=changes)
    return rule


@transaction.atomic
def notification_rule_update(
    *, actor: Any, rule: NotificationRule, targets: Iterable[NotificationTarget] | None = None, **fields: Any
) -> NotificationRule:
    """Changes the given fields of a rule (``RULE_FIELDS``), and its targets when given."""
    locked = NotificationRule.objects.select_for_update().get(pk=rule.pk)
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in RULE_FIELDS:
            raise ValidationError({name: "Not a field of a notification rule."})
        if getattr(locked, name) != value:
            changes[name] = [str(getattr(locked, name)), str(value)]
            setattr(locked, name, value)
    current = list(locked.targets.all())
    wanted = current if targets is None else list(targets)
    notification_rule_validate(locked, wanted)
    locked.save()
    if {t.pk for t in wanted} != {t.pk for t in current}:
        changes["targets"] = [sorted(t.name for t in current), sorted(t.name for t in wanted)]
        locked.targets.set(wanted)
    audit_record(actor=actor, verb="notification_rule.update", target=locked, project=locked.project,
                 changes=changes)  # fmt: skip
    return locked


@transaction.atomic
def notification_rule_delete(*, actor: Any, rule: NotificationRule) -> None:
    audit_record(actor=actor, verb="notification_rule.delete", target=rule, project=rule.project)
    rule.delete()
