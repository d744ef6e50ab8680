"""``http``: one HTTP request; the status is checked and outputs are read from the JSON response."""

from __future__ import annotations

import re
from typing import Any

from ..durations import DURATION_PATTERN
from .base import StepKind, WithCheck

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DEFAULT_TIMEOUT = 30.0
_STATUS = {"type": "integer", "minimum": 100, "maximum": 599}
_OUTPUT_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string", "enum": METHODS + [m.lower() for m in METHODS], "default": "GET"},
        "url": {"type": "string", "minLength": 1},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "json": {"description": "A JSON body (any value); excludes `body`."},
        "body": {"type": "string", "description": "A raw text body; excludes `json`."},
        "expect_status": {
            "type": ["integer", "array"],
            "minimum": 100,
            "maximum": 599,
            "items": _STATUS,
            "minItems": 1,
            "description": "Accepted status code(s); default: any 2xx.",
        },
        "timeout": {"type": ["string", "number"], "pattern": DURATION_PATTERN, "minimum": 0, "default": "30s"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 0},
        "outputs": {
            "type": "object",
            "description": "Output name -> JSON path into the response body, e.g. `data.items[0].id`.",
            "propertyNames": {"pattern": _OUTPUT_NAME},
            "additionalProperties": {"type": "string", "minLength": 1},
        },
    },
}


def parse_json_path(expr: str) -> list[str | int]:
    """``$.data.items[0]["a b"]`` -> ``["data", "items", 0, "a b"]``; ``$`` alone is the whole body.

    Raises ValueError on anything else. The http executor reads outputs with the same rule.
    """
    text = expr.strip()
    if text.startswith("$"):
        text = text[1:]
    elif text.startswith(".") or not text:
        raise ValueError(f"invalid JSON path {expr!r}")
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _PATH_PART.match(text, pos)
        if match is None or (match.group(1) is not None and pos > 0 and not match.group(0).startswith(".")):
            raise ValueError(f"invalid JSON path {expr!r} at {text[pos:]!r}")
        name, index, dq, sq = match.groups()
        parts.append(int(index) if index is not None else next(p for p in (name, dq, sq) if p is not None))
        pos = match.end()
    return parts


def normalise(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    if "json" in with_ and "body" in with_:
        check.error(("body",), "set either `json` or `body`, not both")
    url = with_.get("url")
    if isinstance(url, str) and "{{" not in url and not re.match(r"^https?://[^\s/]+", url):
        check.error(("url",), "must be an http:// or https:// URL")
    status = with_.get("expect_status")
    if status is None:
        expect = list(range(200, 300))
    else:
        expect = [status] if isinstance(status, int) else list(status) if isinstance(status, list) else []
    outputs: dict[str, Any] = with_["outputs"] if isinstance(with_.get("outputs"), dict) else {}
    for name, path in outputs.items():
        if isinstance(path, str):
            try:
                parse_json_path(path)
            except ValueError as exc:
                check.error(("outputs", name), str(exc))
    method = with_.get("method", "GET")
    timeout = check.duration(with_.get("timeout"), ("timeout",))
    return {
        "method": method.upper() if isinstance(method, str) else method,
        "url": url,
        "headers": dict(with_["headers"]) if isinstance(with_.get("headers"), dict) else {},
        "json": with_.get("json"),
        "body": with_.get("body"),
        "expect_status": expect,
        "timeout": DEFAULT_TIMEOUT if timeout is None else timeout,
        "retries": with_.get("retries", 0),
        "outputs": dict(outputs),
    }


def _outputs(with_: dict[str, Any]) -> list[str]:
    outputs = with_.get("outputs")
    return [name for name in outputs if isinstance(name, str)] if isinstance(outputs, dict) else []


KIND = StepKind(
    name="http",
    description="Sends one HTTP request, checks the status and reads outputs from the JSON response.",
    run="forbidden",
    with_schema=SCHEMA,
    normalise=normalise,
    outputs=_outputs,
    literal_fields=frozenset({"outputs"}),
)
