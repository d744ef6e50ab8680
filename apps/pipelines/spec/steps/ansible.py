"""``ansible``: run a playbook through ansible-runner against an inventory, with an SSH credential."""

from __future__ import annotations

from typing import Any

from .base import StepKind, WithCheck

RECAP_FIELDS = ["ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored"]
OUTPUTS = [*RECAP_FIELDS, "recap"]
_NAME_LIST = {"type": ["string", "array"], "items": {"type": "string", "minLength": 1}}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "playbook": {"type": "string", "minLength": 1, "description": "Playbook path inside the workspace."},
        "plays": {
            "type": ["array", "string"],
            "description": "An inline playbook: a list of plays, or its YAML text (Ansible's {{ }} kept as is).",
        },
        "inventory": {"type": "string", "minLength": 1, "description": "The name of a project inventory."},
        "inventory_inline": {"type": "string", "description": "Inventory text (INI or YAML), kept as is."},
        "limit": {"type": "string"},
        "tags": _NAME_LIST,
        "skip_tags": _NAME_LIST,
        "extra_vars": {"type": "object", "description": "Variables for the play; strings may use expressions."},
        "check": {"type": "boolean", "default": False},
        "diff": {"type": "boolean", "default": False},
        "forks": {"type": "integer", "minimum": 1, "maximum": 200, "default": 5},
        "verbosity": {"type": "integer", "minimum": 0, "maximum": 4, "default": 0},
        "credential": {"type": "string", "minLength": 1, "description": "ssh_key or username_password credential."},
        "become": {"type": "boolean", "default": False},
        "become_user": {"type": "string", "minLength": 1},
        "become_method": {"type": "string", "minLength": 1},
        "become_credential": {
            "type": "string",
            "minLength": 1,
            "description": "Credential whose `password` (or `secret`) is the become password.",
        },
    },
}


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def normalise(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    if ("playbook" in with_) == ("plays" in with_):
        check.error((), "set exactly one of `playbook` (a workspace path) or `plays` (an inline playbook)")
    if "inventory" in with_ and "inventory_inline" in with_:
        check.error(("inventory_inline",), "set either `inventory` or `inventory_inline`, not both")
    playbook = with_.get("playbook")
    if isinstance(playbook, str) and (playbook.startswith("/") or ".." in playbook.split("/")):
        check.error(("playbook",), "must be a relative path inside the workspace")
    return {
        "playbook": playbook,
        "plays": with_.get("plays"),
        "inventory": with_.get("inventory"),
        "inventory_inline": with_.get("inventory_inline"),
        "limit": with_.get("limit"),
        "tags": _names(with_.get("tags")),
        "skip_tags": _names(with_.get("skip_tags")),
        "extra_vars": dict(with_["extra_vars"]) if isinstance(with_.get("extra_vars"), dict) else {},
        "check": with_.get("check", False),
        "diff": with_.get("diff", False),
        "forks": with_.get("forks", 5),
        "verbosity": with_.get("verbosity", 0),
        "credential": with_.get("credential"),
        "become": with_.get("become", False),
        "become_user": with_.get("become_user"),
        "become_method": with_.get("become_method"),
        "become_credential": with_.get("become_credential"),
    }


KIND = StepKind(
    name="ansible",
    description="Runs an Ansible playbook with ansible-runner; the play recap becomes outputs "
    "(ok, changed, failed, unreachable, skipped, rescued, ignored and `recap`, per host as JSON).",
    run="forbidden",
    with_schema=SCHEMA,
    normalise=normalise,
    outputs=lambda with_: list(OUTPUTS),
    literal_fields=frozenset({"plays", "inventory_inline"}),
)
