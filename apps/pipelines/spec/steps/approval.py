"""``approval``: waits until enough allowed users approve; a rejection fails it; a timeout fails or skips it."""

from __future__ import annotations

from typing import Any

from ..durations import DURATION_PATTERN
from .base import StepKind, WithCheck

_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["approvers"],
    "additionalProperties": False,
    "properties": {
        "approvers": {
            "type": "object",
            "description": "Who may approve: project roles and/or usernames (at least one).",
            "additionalProperties": False,
            "properties": {"roles": _NAMES, "users": _NAMES},
        },
        "min_approvals": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1},
        "timeout": {"type": ["string", "number"], "pattern": DURATION_PATTERN, "minimum": 0},
        "on_timeout": {"enum": ["fail", "skip"], "default": "fail"},
    },
}


def normalise(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    approvers: dict[str, Any] = with_["approvers"] if isinstance(with_.get("approvers"), dict) else {}
    roles: list[Any] = approvers["roles"] if isinstance(approvers.get("roles"), list) else []
    users: list[Any] = approvers["users"] if isinstance(approvers.get("users"), list) else []
    if "approvers" in with_ and not roles and not users:
        check.error(("approvers",), "name at least one role or user who may approve")
    minimum = with_.get("min_approvals", 1)
    if roles == [] and users and isinstance(minimum, int) and minimum > len(users):
        check.error(("min_approvals",), f"needs {minimum} approvals but only {len(users)} users may approve")
    return {
        "approvers": {"roles": list(roles), "users": list(users)},
        "min_approvals": minimum,
        "timeout": check.duration(with_.get("timeout"), ("timeout",)),
        "on_timeout": with_.get("on_timeout", "fail"),
    }


KIND = StepKind(
    name="approval",
    description="Waits for `min_approvals` approvals from the allowed roles/users; reject fails the step.",
    run="forbidden",
    with_schema=SCHEMA,
    normalise=normalise,
)
