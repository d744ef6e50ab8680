"""Checking a trigger added outside the YAML (through the API) exactly as a ``spec.on`` entry is checked.

The same JSON Schema and the same semantic checks (cron fields, time zone, inputs declared by the
pipeline's current version, templates over ``trigger``) as the YAML; each problem is reported as a
sentence naming its place in ``config``.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError

from ..models import Pipeline
from ..spec.errors import format_path
from ..spec.report import Issues
from ..spec.schema import _report
from ..spec.triggers import ON_SCHEMA, normalise_triggers
from .models import TriggerKind

API_KINDS = (TriggerKind.SCHEDULE, TriggerKind.WEBHOOK, TriggerKind.PIPELINE)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SECRET_LENGTH = (16, 200)
_VALIDATOR = jsonschema.Draft202012Validator(
    {"type": "object", "properties": {"spec": {"type": "object", "properties": {"on": ON_SCHEMA}}}}
)


def trigger_name_check(name: Any) -> str | None:
    """None when ``name`` can name an API trigger, else what is wrong."""
    if isinstance(name, str) and NAME.match(name):
        return None
    return "1 to 40 lower-case letters, digits, '-' or '_', starting with a letter or digit."


def trigger_secret_check(secret: Any) -> str | None:
    """None when ``secret`` can be a webhook's shared secret, else what is wrong."""
    low, high = SECRET_LENGTH
    if isinstance(secret, str) and low <= len(secret) <= high and secret.isprintable() and secret.strip() == secret:
        return None
    return f"{low} to {high} printable characters, without surrounding spaces (the sender signs with it)."


def trigger_config_check(*, kind: str, config: Any, pipeline: Pipeline) -> dict[str, Any]:
    """The normalised ``config`` of a ``kind`` trigger of ``pipeline``; ValidationError naming every problem.

    ``config`` is what one entry under ``spec.on`` holds: ``{cron, timezone, inputs}`` for a schedule,
    ``{provider, events, branches, tags, paths, inputs}`` for a webhook, ``{pipeline, status, inputs}``
    for an upstream pipeline.
    """
    if kind not in API_KINDS:
        raise ValidationError({"kind": "One of schedule, webhook or pipeline (api and manual runs are switched on "
                                       "and off in the pipeline's YAML)."})  # fmt: skip
    if not isinstance(config, dict):
        raise ValidationError({"config": "A JSON object: what one entry under spec.on declares."})
    block = {kind: config if kind == TriggerKind.WEBHOOK else [config]}
    issues = Issues()
    for error in _VALIDATOR.iter_errors({"spec": {"on": block}}):
        _report(error, issues)
    version = pipeline.current_version
    declared = frozenset((version.spec.get("inputs") or {}) if version is not None else {})
    normalised = normalise_triggers(block, declared, issues)
    if issues:
        # "spec.on.schedule[0].cron" -> "cron: ..."; a problem of the entry itself has no place.
        head = format_path(("spec", "on", kind) if kind == TriggerKind.WEBHOOK else ("spec", "on", kind, 0))
        messages = []
        for issue in issues.sorted():
            place = issue.path.removeprefix(head).lstrip(".")
            messages.append(f"{place}: {issue.message}" if place else issue.message)
        raise ValidationError({"config": messages})
    entry = normalised[kind]
    return dict(entry if kind == TriggerKind.WEBHOOK else entry[0])
