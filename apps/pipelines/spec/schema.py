"""The JSON Schema of an ``ansflow/v1`` document, and the translation of schema errors into located issues."""

from __future__ import annotations

import copy
import difflib
import functools
import re
from typing import Any

import jsonschema

from .durations import DURATION_PATTERN
from .errors import Path
from .report import Issues
from .steps import STEP_KINDS
from .triggers import ON_SCHEMA

API_VERSION = "ansflow/v1"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
STEP_ID = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
CREDENTIAL = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SECRET_REF = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.[A-Za-z0-9_][A-Za-z0-9_.-]*$"  # noqa: S105 - a pattern, not a password
RETRY_REASON = r"^(failed|timed_out|lost|exit:[0-9]{1,3})$"
WHEN = ["on_success", "on_failure", "always", "never"]
INPUT_TYPES = ["string", "integer", "number", "boolean", "choice"]
MAX_STEPS = 500

_SCALAR = {"type": ["string", "number", "boolean"]}
_DURATION = {
    "type": ["string", "number"],
    "pattern": DURATION_PATTERN,
    "minimum": 0,
    "x-error": "expected a duration such as 90s, 10m, 2h, 1h30m or a number of seconds",
}


# Keys starting with x- are ignored, so a document can hold shared blocks for YAML anchors (as in Compose files).
_EXTENSIONS = {"^x-": {"description": "Extension field, ignored (e.g. a block for YAML anchors)."}}


def _names(pattern: str, error: str) -> dict[str, Any]:
    return {"pattern": pattern, "x-error": error}


def _string_map(key_pattern: str, key_error: str) -> dict[str, Any]:
    return {"type": "object", "propertyNames": _names(key_pattern, key_error), "additionalProperties": _SCALAR}


def _definitions() -> dict[str, Any]:
    retry = {
        "type": ["integer", "object"],
        "description": "Retry policy, or just the maximum number of retries.",
        "minimum": 0,
        "maximum": 100,
        "additionalProperties": False,
        "properties": {
            "max": {"type": "integer", "minimum": 0, "maximum": 100, "default": 0},
            "backoff": {**_DURATION, "default": 0},
            "factor": {"type": "number", "minimum": 1, "maximum": 10, "default": 2},
            "max_backoff": _DURATION,
            "on": {
                "type": "array",
                "items": {
                    "type": "string",
                    "pattern": RETRY_REASON,
                    "x-error": "expected failed, timed_out, lost or exit:<code>",
                },
                "uniqueItems": True,
            },
        },
    }
    matrix_entry = {"type": "object", "minProperties": 1, "additionalProperties": _SCALAR}
    matrix = {
        "type": "object",
        "description": "Axes (name -> list of values) plus include, exclude, max_parallel and fail_fast.",
        "propertyNames": _names(IDENT, "matrix axis names must be identifiers"),
        "properties": {
            "include": {"type": "array", "items": matrix_entry},
            "exclude": {"type": "array", "items": matrix_entry},
            "max_parallel": {"type": "integer", "minimum": 1},
            "fail_fast": {"type": "boolean", "default": True},
        },
        "additionalProperties": {"type": "array", "minItems": 1, "items": _SCALAR},
    }
    env_value = {
        "type": ["string", "number", "boolean", "object"],
        "required": ["secret"],
        "additionalProperties": False,
        "properties": {
            "secret": {
                "type": "string",
                "pattern": SECRET_REF,
                "x-error": "expected <credential>.<field>",
            }
        },
    }
    step = {
        "type": "object",
        "required": ["id", "type"],
        "additionalProperties": False,
        "properties": {
            "id": {
                "type": "string",
                **_names(STEP_ID, "step ids start with a letter or _ then letters, digits, _ or -"),
            },
            "type": {"type": "string", "enum": sorted(STEP_KINDS)},
            "needs": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "run": {"type": "string"},
            "with": {"type": "object"},
            "env": {
                "type": "object",
                "propertyNames": _names(IDENT, "environment variable names are letters, digits and _"),
                "additionalProperties": env_value,
            },
            "when": {"enum": WHEN, "default": "on_success"},
            "if": {"type": ["string", "boolean"]},
            "retry": {"$ref": "#/$defs/retry"},
            "timeout": _DURATION,
            "on_failure": {"enum": ["abort", "continue"], "default": "abort"},
            "matrix": matrix,
            "outputs": {
                "type": "array",
                "items": {"type": "string", **_names(IDENT, "output names are letters, digits and _")},
                "uniqueItems": True,
            },
        },
        "allOf": [_kind_rule(name) for name in sorted(STEP_KINDS)],
    }
    input_ = {
        "type": "object",
        "required": ["type"],
        "additionalProperties": False,
        "properties": {
            "type": {"enum": INPUT_TYPES},
            "default": {},
            "required": {"type": "boolean", "default": False},
            "pattern": {"type": "string"},
            "minimum": {"type": "number"},
            "maximum": {"type": "number"},
            "enum": {"type": "array", "minItems": 1, "items": _SCALAR, "uniqueItems": True},
            "description": {"type": "string"},
        },
    }
    return {"retry": retry, "step": step, "input": input_}


def _kind_rule(name: str) -> dict[str, Any]:
    kind = STEP_KINDS[name]
    then: dict[str, Any] = {"properties": {"with": kind.with_schema}}
    if kind.run == "required":
        then["required"] = ["run"]
    return {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": then}


def _build() -> dict[str, Any]:
    spec = {
        "type": "object",
        "required": ["steps"],
        "patternProperties": _EXTENSIONS,
        "additionalProperties": False,
        "properties": {
            "inputs": {
                "type": "object",
                "propertyNames": _names(IDENT, "input names are letters, digits and _"),
                "additionalProperties": {"$ref": "#/$defs/input"},
            },
            "variables": _string_map(IDENT, "variable names are letters, digits and _"),
            "credentials": {
                "type": "array",
                "items": {"type": "string", **_names(CREDENTIAL, "credential names are letters, digits, _ and -")},
                "uniqueItems": True,
            },
            "concurrency": {
                "type": ["string", "object"],
                "required": ["group"],
                "additionalProperties": False,
                "properties": {
                    "group": {"type": "string", "minLength": 1},
                    "limit": {"type": "integer", "minimum": 1, "default": 1},
                    "cancel_in_progress": {"type": "boolean", "default": False},
                },
            },
            "defaults": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"timeout": _DURATION, "retry": {"$ref": "#/$defs/retry"}},
            },
            "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {"$ref": "#/$defs/step"}},
            "on": ON_SCHEMA,
        },
    }
    metadata = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {
                "type": "string",
                **_names(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", "names are letters, digits, _ . -"),
            },
            "project": {"type": "string", **_names(r"^[-a-zA-Z0-9_]{1,64}$", "expected a project slug")},
            "description": {"type": "string"},
            "labels": _string_map(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$", "label keys are letters, digits, _ . / -"),
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:ansflow:pipeline:v1",
        "title": "AnsFlow pipeline (ansflow/v1)",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "patternProperties": _EXTENSIONS,
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": "Pipeline"},
            "metadata": metadata,
            "spec": spec,
        },
        "$defs": _definitions(),
    }


@functools.cache
def _schema() -> dict[str, Any]:
    schema = _build()
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def pipeline_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole pipeline document; a fresh copy each call."""
    return copy.deepcopy(_schema())


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema())


def check_schema(doc: Any, issues: Issues) -> None:
    """Add one issue per schema violation, pointing at the offending key or value."""
    for error in _validator().iter_errors(doc):
        _report(error, issues)


_JSON_TYPES = [
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "list"),
    (dict, "mapping"),
]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _report(error: jsonschema.ValidationError, issues: Issues) -> None:
    path: Path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance, value = error.instance, error.validator_value
    if "propertyNames" in error.absolute_schema_path:
        issues.add_schema(
            (*path, instance), f"invalid key {_short(instance)}: {schema.get('x-error', 'bad name')}", key=True
        )
        return
    match error.validator:
        case "additionalProperties":
            known = [k for k in schema.get("properties", {}) if isinstance(k, str)]
            patterns = list(schema.get("patternProperties", {}))
            for key in instance:
                if key not in known and not any(re.search(p, key) for p in patterns):
                    hint = difflib.get_close_matches(key, known, n=1)
                    suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                    issues.add_schema((*path, key), f"unknown key {key!r}{suffix}", key=True)
            return
        case "required":
            for key in value:
                if isinstance(instance, dict) and key not in instance:
                    issues.add(path, f"missing required key {key!r}")
            return
        case "type":
            wanted = [value] if isinstance(value, str) else list(value)
            names = " or ".join({"object": "mapping", "array": "list"}.get(w, w) for w in wanted)
            message = f"expected {names}, got {_type_name(instance)}"
        case "enum" if path[-1:] == ("type",) and path[:2] == ("spec", "steps") and len(path) == 4:
            message = f"unknown step type {_short(instance)} (known: {', '.join(sorted(STEP_KINDS))})"
        case "enum":
            message = f"must be one of {', '.join(str(v) for v in value)} (got {_short(instance)})"
        case "const" if path == ("apiVersion",):
            message = f"unsupported apiVersion {_short(instance)} (expected {API_VERSION!r})"
        case "const":
            message = f"must be {value!r} (got {_short(instance)})"
        case "pattern":
            message = f"invalid value {_short(instance)}: {schema.get('x-error', f'must match {value}')}"
        case "minItems" | "minLength" | "minProperties":
            message = "must not be empty" if value == 1 else f"must have at least {value} items"
        case "maxItems":
            message = f"must have at most {value} items"
        case "uniqueItems":
            message = "contains duplicate items"
        case "minimum":
            message = f"must be at least {value} (got {_short(instance)})"
        case "maximum":
            message = f"must be at most {value} (got {_short(instance)})"
        case _:
            message = error.message if len(error.message) < 200 else error.message[:197] + "..."
    issues.add_schema(path, message)
