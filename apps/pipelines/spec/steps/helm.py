"""``helm``: install, upgrade, roll back, uninstall or show a Helm release on one of the project's clusters."""

from __future__ import annotations

import re
from typing import Any

from .base import StepKind, WithCheck

ACTIONS = ["install", "upgrade", "rollback", "uninstall", "status", "history"]
CHART_ACTIONS = ("install", "upgrade")
WAIT_ACTIONS = ("install", "upgrade", "rollback", "uninstall")
RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SET_KEY = r"^[A-Za-z0-9_][A-Za-z0-9_.\-\[\]]*$"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["cluster", "action", "release"],
    "additionalProperties": False,
    "properties": {
        "cluster": {"type": "string", "minLength": 1, "description": "A cluster of the project."},
        "namespace": {"type": "string", "minLength": 1, "description": "Default: the cluster's namespace."},
        "action": {"enum": ACTIONS},
        "release": {"type": "string", "minLength": 1, "maxLength": 53},
        "chart": {
            "type": "string",
            "minLength": 1,
            "description": "A chart directory or a packaged chart (.tgz) in the workspace (install, upgrade).",
        },
        "values": {"type": "object", "description": "Chart values; strings may use expressions."},
        "values_files": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "description": "YAML values files in the workspace, applied before `values` and `set`.",
        },
        "set": {
            "type": "object",
            "propertyNames": {"pattern": SET_KEY},
            "additionalProperties": {"type": ["string", "number", "boolean"]},
            "description": "`--set key=value` pairs (dotted keys); they win over `values`.",
        },
        "install": {"type": "boolean", "default": False, "description": "upgrade: install when missing."},
        "create_namespace": {"type": "boolean", "default": False},
        "atomic": {"type": "boolean", "default": False, "description": "Roll back a failed install or upgrade."},
        "wait": {
            "type": "boolean",
            "default": True,
            "description": "Wait until the release's resources are ready, within the step timeout.",
        },
        "revision": {"type": "integer", "minimum": 1, "description": "rollback: the revision (default: previous)."},
    },
}


def _relative(value: Any, path: tuple[str | int, ...], check: WithCheck) -> None:
    if isinstance(value, str) and (value.startswith("/") or ".." in value.split("/")):
        check.error(path, "must be a relative path inside the workspace")


def normalise(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    action = with_.get("action")
    release = with_.get("release")
    if isinstance(release, str) and "{{" not in release and not RELEASE_NAME.match(release):
        check.error(("release",), "a release name is lower-case letters, digits and '-' (a DNS label)")
    if action in CHART_ACTIONS and not with_.get("chart"):
        check.error((), f"`{action}` needs `chart:` (a chart directory or .tgz in the workspace)")
    for key in ("chart", "values", "values_files", "set", "atomic", "create_namespace"):
        if key in with_ and action in ACTIONS and action not in CHART_ACTIONS:
            check.error((key,), f"only install and upgrade take `{key}`")
    if "install" in with_ and action != "upgrade":
        check.error(("install",), "only upgrade takes `install`")
    if "revision" in with_ and action != "rollback":
        check.error(("revision",), "only rollback takes `revision`")
    if "wait" in with_ and action in ("status", "history"):
        check.error(("wait",), f"`{action}` does not wait")
    _relative(with_.get("chart"), ("chart",), check)
    files = with_["values_files"] if isinstance(with_.get("values_files"), list) else []
    for index, name in enumerate(files):
        _relative(name, ("values_files", index), check)
    return {
        "cluster": with_.get("cluster"),
        "namespace": with_.get("namespace"),
        "action": action,
        "release": release,
        "chart": with_.get("chart"),
        "values": dict(with_["values"]) if isinstance(with_.get("values"), dict) else {},
        "values_files": list(files),
        "set": dict(with_["set"]) if isinstance(with_.get("set"), dict) else {},
        "install": with_.get("install", False),
        "create_namespace": with_.get("create_namespace", False),
        "atomic": with_.get("atomic", False),
        "wait": with_.get("wait", action in WAIT_ACTIONS),
        "revision": with_.get("revision"),
    }


KIND = StepKind(
    name="helm",
    description="Installs, upgrades, rolls back, uninstalls or shows a Helm release with the helm binary, as the "
    "cluster's credential; prints the release history and outputs its `revision` and `status`.",
    run="forbidden",
    with_schema=SCHEMA,
    normalise=normalise,
    outputs=lambda with_: ["revision", "status"],
)
