"""``spec.on``: how a pipeline starts besides a person or the API.

```yaml
on:
  api: true                     # POST /api/v1/pipelines/{id}/run/ (default true)
  manual: true                  # the run form (default true)
  schedule:
    - {cron: "0 3 * * 1-5", timezone: Europe/Paris, inputs: {target: nightly}}
  webhook:
    provider: github            # github | gitlab
    events: [push]              # default [push]
    branches: [main, "release/*"]
    tags: ["v*"]
    paths: ["src/**"]
    inputs: {version: "{{ trigger.tag }}"}
  pipeline:
    - {pipeline: build, status: [success], inputs: {digest: "{{ trigger.outputs.digest }}"}}
```

Input values may be templates over ``trigger`` (the webhook payload's ``ref``, ``branch``, ``tag``,
``commit``, ``author``...; the upstream execution's ``pipeline``, ``status`` and ``outputs``).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from celery.schedules import crontab_parser

from . import expressions
from .errors import Path
from .report import Issues

PROVIDERS = ["github", "gitlab"]
WEBHOOK_EVENTS = ["push", "tag_push"]
FINAL_STATUSES = ["success", "failed", "canceled"]
CRON_FIELDS = (("minute", 60, 0), ("hour", 24, 0), ("day_of_month", 31, 1), ("month_of_year", 12, 1),
               ("day_of_week", 7, 0))  # fmt: skip

_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
_INPUTS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
ON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "api": {"type": "boolean", "default": True},
        "manual": {"type": "boolean", "default": True},
        "schedule": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["cron"],
                "additionalProperties": False,
                "properties": {
                    "cron": {"type": "string", "minLength": 1},
                    "timezone": {"type": "string", "minLength": 1, "default": "UTC"},
                    "inputs": _INPUTS,
                    "enabled": {"type": "boolean", "default": True},
                },
            },
        },
        "webhook": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "provider": {"enum": PROVIDERS, "default": "github"},
                "events": {**_STRINGS, "items": {"enum": WEBHOOK_EVENTS}},
                "branches": _STRINGS,
                "tags": _STRINGS,
                "paths": _STRINGS,
                "inputs": _INPUTS,
                "enabled": {"type": "boolean", "default": True},
            },
        },
        "pipeline": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pipeline"],
                "additionalProperties": False,
                "properties": {
                    "pipeline": {"type": "string", "minLength": 1},
                    "status": {**_STRINGS, "items": {"enum": FINAL_STATUSES}},
                    "inputs": _INPUTS,
                    "enabled": {"type": "boolean", "default": True},
                },
            },
        },
    },
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_cron(text: str) -> dict[str, str]:
    """The five fields of a cron expression by name; ValueError says what is wrong."""
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    for value, (name, size, first) in zip(fields, CRON_FIELDS, strict=True):
        try:
            crontab_parser(size, first).parse(value)
        except Exception as exc:  # celery raises its own ParseException or ValueError
            raise ValueError(f"{name.replace('_', ' ')} {value!r}: {exc}") from None
    return {name: value for value, (name, _, _) in zip(fields, CRON_FIELDS, strict=True)}


def _inputs(raw: Any, path: Path, declared: frozenset[str], issues: Issues) -> dict[str, Any]:
    scope = expressions.Scope(roots=frozenset({"trigger"}))
    values: dict[str, Any] = {}
    for name, value in _dict(raw).items():
        if name not in declared:
            issues.add_semantic((*path, name), f"unknown input {name!r} (not in spec.inputs)", key=True)
            continue
        if isinstance(value, str):
            from .build import check_template  # build imports the step kinds; import lazily

            check_template(value, (*path, name), scope, issues)
        values[name] = value
    return values


def normalise_triggers(raw: Any, declared_inputs: frozenset[str], issues: Issues) -> dict[str, Any]:
    """The normalised ``on`` block; problems are added to ``issues`` with their paths."""
    on = _dict(raw)
    base: Path = ("spec", "on")
    schedules = []
    for index, entry in enumerate(_list(on.get("schedule"))):
        entry, path = _dict(entry), (*base, "schedule", index)
        cron = str(entry["cron"]) if isinstance(entry.get("cron"), str) else ""
        zone = str(entry["timezone"]) if isinstance(entry.get("timezone"), str) else "UTC"
        try:
            parse_cron(cron)
        except ValueError as exc:
            issues.add_semantic((*path, "cron"), f"invalid cron expression: {exc}")
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            issues.add_semantic((*path, "timezone"), f"unknown time zone {zone!r} (e.g. UTC, Europe/Paris)")
        inputs = _inputs(entry.get("inputs"), (*path, "inputs"), declared_inputs, issues)
        enabled = entry.get("enabled", True) is not False
        schedules.append({"cron": cron, "timezone": zone, "enabled": enabled, "inputs": inputs})
    webhook = None
    if isinstance(on.get("webhook"), dict):
        hook = on["webhook"]
        webhook = {
            "provider": hook.get("provider") if hook.get("provider") in PROVIDERS else "github",
            "events": [e for e in _list(hook.get("events")) if isinstance(e, str)] or ["push", "tag_push"],
            "branches": [b for b in _list(hook.get("branches")) if isinstance(b, str)],
            "tags": [t for t in _list(hook.get("tags")) if isinstance(t, str)],
            "paths": [p for p in _list(hook.get("paths")) if isinstance(p, str)],
            "enabled": hook.get("enabled", True) is not False,
            "inputs": _inputs(hook.get("inputs"), (*base, "webhook", "inputs"), declared_inputs, issues),
        }
    upstream = []
    for index, entry in enumerate(_list(on.get("pipeline"))):
        entry, path = _dict(entry), (*base, "pipeline", index)
        statuses = [s for s in _list(entry.get("status")) if isinstance(s, str)] or ["success"]
        name = entry.get("pipeline") if isinstance(entry.get("pipeline"), str) else ""
        inputs = _inputs(entry.get("inputs"), (*path, "inputs"), declared_inputs, issues)
        enabled = entry.get("enabled", True) is not False
        upstream.append({"pipeline": name, "status": statuses, "enabled": enabled, "inputs": inputs})
    return {
        "api": on.get("api", True) is not False,
        "manual": on.get("manual", True) is not False,
        "schedule": schedules,
        "webhook": webhook,
        "pipeline": upstream,
    }
