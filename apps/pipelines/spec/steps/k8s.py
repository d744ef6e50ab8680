"""``k8s.apply``, ``k8s.delete`` and ``k8s.rollout``: objects on one of the project's Kubernetes clusters.

Which cluster is a run-time question (``cluster`` names a project cluster, like a Docker host); the shape of
the step and, when they hold no expression, the inline manifests are checked here, on import and save.
"""

from __future__ import annotations

from typing import Any

import yaml

from .base import StepKind, WithCheck

# apiVersions of the kinds a `k8s.delete` step may name without `api_version`.
KNOWN_KINDS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "Pod": "v1",
    "PersistentVolumeClaim": "v1",
    "Namespace": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1beta1",
    "Ingress": "networking.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
}
ACTIONS = ["status", "restart", "undo"]
PROPAGATION = ["Background", "Foreground", "Orphan"]


class ManifestError(ValueError):
    """A manifest that cannot be applied as written; the message names the file or document."""


def parse_manifests(text: str, where: str) -> list[dict[str, Any]]:
    """The objects of a YAML text (several documents, ``kind: List`` expanded), each checked for what applying
    needs: a mapping with ``apiVersion``, ``kind`` and ``metadata.name``."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{where} is not valid YAML: {exc}") from exc
    objects: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        if document is not None:
            objects += expand_manifest(document, f"{where} (document {index + 1})" if len(documents) > 1 else where)
    return objects


def expand_manifest(document: Any, where: str) -> list[dict[str, Any]]:
    """One object, or the items of a ``kind: List``, each checked."""
    if isinstance(document, dict) and document.get("kind") == "List" and isinstance(document.get("items"), list):
        return [_checked(item, f"{where} item {index + 1}") for index, item in enumerate(document["items"])]
    return [_checked(document, where)]


def _checked(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: a Kubernetes object must be a mapping, not {type(obj).__name__}")
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise ManifestError(f"{where}: `{key}` is missing")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise ManifestError(f"{where}: {obj['kind']} needs `metadata.name` (generateName cannot be applied)")
    return obj


_CLUSTER = {"type": "string", "minLength": 1, "description": "A cluster of the project."}
_NAMESPACE = {
    "type": "string",
    "minLength": 1,
    "description": "For objects that do not name theirs; default: the cluster's default namespace.",
}
_MANIFESTS = {
    "type": ["string", "object", "array"],
    "items": {"type": "object"},
    "description": "Inline objects: YAML text (several documents), one mapping or a list; expressions rendered.",
}
_PATH = {"type": "string", "minLength": 1, "description": "A manifest file or a directory of them in the workspace."}
_TEMPLATE = {"type": "boolean", "default": False, "description": "Render the files of `path` with expressions."}
_WHERE = {"cluster": _CLUSTER, "namespace": _NAMESPACE}
_SOURCES = {"manifests": _MANIFESTS, "path": _PATH, "template": _TEMPLATE}


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _sources(with_: dict[str, Any]) -> dict[str, Any]:
    """The normalised cluster, namespace and manifest source keys."""
    return {
        "cluster": with_.get("cluster"),
        "namespace": with_.get("namespace"),
        "manifests": with_.get("manifests"),
        "path": with_.get("path"),
        "template": bool(with_.get("template", False)),
    }


def _check_sources(with_: dict[str, Any], check: WithCheck) -> None:
    """`manifests` or `path`; inline text without expressions is parsed now, so its mistakes show on import."""
    path = with_.get("path")
    if isinstance(path, str) and (path.startswith("/") or ".." in path.split("/")):
        check.error(("path",), "must be a relative path inside the workspace")
    if with_.get("template") and "path" not in with_:
        check.error(("template",), "only applies to the files of `path` (inline manifests are always rendered)")
    manifests = with_.get("manifests")
    try:
        if isinstance(manifests, str) and not _is_template(manifests):
            if not parse_manifests(manifests, "manifests"):
                check.error(("manifests",), "holds no Kubernetes object")
        elif isinstance(manifests, dict):
            expand_manifest(manifests, "manifests")
        elif isinstance(manifests, list):
            if not manifests:
                check.error(("manifests",), "holds no Kubernetes object")
            for index, item in enumerate(manifests):
                expand_manifest(item, f"manifests[{index}]")
    except ManifestError as exc:
        check.error(("manifests",), str(exc))


APPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["cluster"],
    "additionalProperties": False,
    "properties": {
        **_WHERE,
        **_SOURCES,
        "wait": {
            "enum": [True, False, "rollout"],
            "default": True,
            "description": "Wait until Deployments/StatefulSets/DaemonSets roll out and Jobs complete (`rollout` "
            "is the same as true).",
        },
        "force": {"type": "boolean", "default": False, "description": "Take over fields other managers own."},
    },
}


def normalise_apply(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    if ("manifests" in with_) == ("path" in with_):
        check.error((), "set exactly one of `manifests` (inline objects) or `path` (files in the workspace)")
    _check_sources(with_, check)
    return {
        **_sources(with_),
        "wait": with_.get("wait", True) is not False,
        "force": bool(with_.get("force", False)),
    }


DELETE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["cluster"],
    "additionalProperties": False,
    "properties": {
        **_WHERE,
        **_SOURCES,
        "kind": {"type": "string", "pattern": "^[A-Z][A-Za-z0-9]*$", "x-error": "a kind such as Deployment"},
        "api_version": {"type": "string", "minLength": 1, "description": "Needed for kinds not built in."},
        "name": {"type": "string", "minLength": 1},
        "selector": {"type": "string", "minLength": 1, "description": "A label selector: app=web,tier!=db"},
        "wait": {"type": "boolean", "default": True, "description": "Wait until the objects are gone."},
        "ignore_not_found": {"type": "boolean", "default": False},
        "propagation": {"enum": PROPAGATION, "default": "Background"},
    },
}


def normalise_delete(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    sources = [key for key in ("manifests", "path", "kind") if key in with_]
    if len(sources) != 1:
        check.error((), "set exactly one of `manifests`, `path` or `kind` (with `name` or `selector`)")
    if "kind" in with_:
        if ("name" in with_) == ("selector" in with_):
            check.error(("kind",), "needs exactly one of `name` or `selector`")
        kind = with_.get("kind")
        if isinstance(kind, str) and kind not in KNOWN_KINDS and "api_version" not in with_:
            check.error(("kind",), f"{kind} is not a built-in kind: set `api_version` too")
    else:
        for key in ("name", "selector", "api_version"):
            if key in with_:
                check.error((key,), "only applies with `kind`")
    _check_sources(with_, check)
    return {
        **_sources(with_),
        "kind": with_.get("kind"),
        "api_version": with_.get("api_version"),
        "name": with_.get("name"),
        "selector": with_.get("selector"),
        "wait": bool(with_.get("wait", True)),
        "ignore_not_found": bool(with_.get("ignore_not_found", False)),
        "propagation": with_.get("propagation", "Background"),
    }


ROLLOUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["cluster", "deployment", "action"],
    "additionalProperties": False,
    "properties": {
        **_WHERE,
        "deployment": {"type": "string", "minLength": 1, "description": "The Deployment's name."},
        "action": {"enum": ACTIONS},
        "to_revision": {"type": "integer", "minimum": 1, "description": "undo: the revision to go back to."},
        "wait": {"type": "boolean", "default": True, "description": "Wait until the rollout completes."},
    },
}


def normalise_rollout(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    if "to_revision" in with_ and with_.get("action") != "undo":
        check.error(("to_revision",), "only applies to `action: undo`")
    return {
        "cluster": with_.get("cluster"),
        "namespace": with_.get("namespace"),
        "deployment": with_.get("deployment"),
        "action": with_.get("action"),
        "to_revision": with_.get("to_revision"),
        "wait": bool(with_.get("wait", True)),
    }


KINDS = [
    StepKind(
        name="k8s.apply",
        description="Server-side applies manifests to a cluster and waits for rollouts and Jobs; outputs "
        "`applied` (how many objects) and `objects`.",
        run="forbidden",
        with_schema=APPLY_SCHEMA,
        normalise=normalise_apply,
        outputs=lambda with_: ["applied", "objects"],
    ),
    StepKind(
        name="k8s.delete",
        description="Deletes objects (by manifests, or kind with name or label selector) and waits until they are "
        "gone; outputs `deleted`.",
        run="forbidden",
        with_schema=DELETE_SCHEMA,
        normalise=normalise_delete,
        outputs=lambda with_: ["deleted"],
    ),
    StepKind(
        name="k8s.rollout",
        description="Status, restart or undo of a Deployment's rollout; outputs `revision`.",
        run="forbidden",
        with_schema=ROLLOUT_SCHEMA,
        normalise=normalise_rollout,
        outputs=lambda with_: ["revision"],
    ),
]
