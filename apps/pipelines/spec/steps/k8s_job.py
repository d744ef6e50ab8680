"""``k8s.job``: run a container image to completion as a Kubernetes Job on one of the project's clusters."""

from __future__ import annotations

from typing import Any

from .base import StepKind, WithCheck

DELETE_POLICIES = ["always", "on_success", "never"]
_ARGV = {"type": "array", "items": {"type": "string"}}
_QUANTITIES = {"type": "object", "additionalProperties": {"type": ["string", "number"]}}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["cluster", "image"],
    "additionalProperties": False,
    "properties": {
        "cluster": {"type": "string", "minLength": 1, "description": "A cluster of the project."},
        "namespace": {"type": "string", "minLength": 1, "description": "Default: the cluster's namespace."},
        "image": {"type": "string", "minLength": 1},
        "command": {**_ARGV, "description": "The container's entrypoint, one argument per item (no shell)."},
        "args": {**_ARGV, "description": "Arguments to the entrypoint, one per item."},
        "workdir": {"type": "string", "pattern": "^/"},
        "image_pull_policy": {"enum": ["Always", "IfNotPresent", "Never"]},
        "host_network": {"type": "boolean", "default": False},
        "service_account": {"type": "string", "minLength": 1},
        "resources": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"requests": _QUANTITIES, "limits": _QUANTITIES},
        },
        "backoff_limit": {"type": "integer", "minimum": 0, "maximum": 20, "default": 0},
        "delete": {
            "enum": DELETE_POLICIES,
            "default": "always",
            "description": "When the Job (and its pods) is deleted after it ends; a canceled or timed-out "
            "step always deletes it.",
        },
        "ttl": {
            "type": ["string", "number"],
            "description": "ttlSecondsAfterFinished for a kept Job (needs the cluster's TTL controller).",
        },
        "grace_period": {
            "type": ["string", "number"],
            "default": "5s",
            "description": "terminationGracePeriodSeconds: how long a canceled pod may take to stop.",
        },
    },
}


def normalise(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    ttl = check.duration(with_.get("ttl"), ("ttl",), positive=False)
    grace = check.duration(with_.get("grace_period", "5s"), ("grace_period",), positive=False)
    resources: dict[str, Any] = with_["resources"] if isinstance(with_.get("resources"), dict) else {}
    return {
        "cluster": with_.get("cluster"),
        "namespace": with_.get("namespace"),
        "image": with_.get("image"),
        "command": list(with_["command"]) if isinstance(with_.get("command"), list) else None,
        "args": list(with_["args"]) if isinstance(with_.get("args"), list) else None,
        "workdir": with_.get("workdir"),
        "image_pull_policy": with_.get("image_pull_policy"),
        "host_network": with_.get("host_network", False),
        "service_account": with_.get("service_account"),
        "resources": {
            key: {str(k): str(v) for k, v in value.items()}
            for key, value in resources.items()
            if isinstance(value, dict)
        },
        "backoff_limit": with_.get("backoff_limit", 0),
        "delete": with_.get("delete", "always"),
        "ttl": int(ttl) if ttl is not None else None,
        "grace_period": int(grace) if grace is not None else 5,
    }


KIND = StepKind(
    name="k8s.job",
    description="Runs a container image as a Kubernetes Job, streaming its pod's log into the step log; the "
    "Job's result and the container's exit code decide the step. Outputs `exit_code` and `job`.",
    run="forbidden",
    with_schema=SCHEMA,
    normalise=normalise,
    outputs=lambda with_: ["exit_code", "job"],
)
