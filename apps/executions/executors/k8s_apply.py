"""``k8s.apply``: server-side apply of manifests to a project's cluster, then wait until they are ready.

Objects come from ``manifests`` (inline, rendered with the run's expressions by the runner) or from the files
of a workspace ``path`` (rendered when ``template: true``). Each is applied with the field manager ``ansflow``
(PATCH ``application/apply-patch+yaml``); a manifest the server rejects fails the step with the server's own
message. With ``wait`` (the default) Deployments, StatefulSets and DaemonSets must roll out and Jobs complete
within the step's timeout; when one fails or time runs out, its events and its failing pods' logs are printed.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes import client as k8s

from apps.k8s_integration.clusters.kube import ClusterError

from ..choices import StepStatus
from .base import StepContext, StepResult, register
from .k8s_api import ROLLOUT_MANAGER, Kube, Resource
from .k8s_common import KubeStep
from .k8s_manifests import load_objects
from .k8s_wait import wait_ready

_CONFLICT = re.compile(r'conflict with "([^"]+)"')


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = _mapping(obj.get("spec"))
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        spec = _mapping(_mapping(spec.get("jobTemplate")).get("spec"))
    return _mapping(_mapping(spec.get("template")).get("spec"))


def with_protocols(obj: dict[str, Any]) -> dict[str, Any]:
    """``protocol: TCP`` where a port list leaves it out: server-side apply before Kubernetes 1.22 rejects such
    lists ("associative list with keys has an element that omits key field protocol"). Changes ``obj``."""
    port_lists = [_mapping(obj.get("spec")).get("ports")] if obj.get("kind") == "Service" else []
    pod = _pod_spec(obj)
    for key in ("containers", "initContainers"):
        port_lists += [_mapping(container).get("ports") for container in pod.get(key) or []]
    for ports in port_lists:
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    return obj


def object_namespace(resource: Resource, obj: dict[str, Any], default: str) -> str | None:
    """The namespace an object lives in: its own, else the step's; None for cluster-scoped kinds."""
    return str(obj["metadata"].get("namespace") or default) if resource.namespaced else None


@register
class K8sApplyExecutor(KubeStep):
    kind = "k8s.apply"

    def __init__(self) -> None:
        super().__init__()
        self.objects: list[dict[str, Any]] = []

    def prepare(self, ctx: StepContext) -> None:
        super().prepare(ctx)
        self.objects = load_objects(ctx)

    def perform(self, ctx: StepContext, api: k8s.ApiClient) -> StepResult:
        assert self.target is not None
        kube = Kube(api, self.target.cluster)
        applied: list[tuple[Resource, str | None, dict[str, Any]]] = []
        for obj in self.objects:
            name = obj["metadata"]["name"]
            try:
                resource = kube.resource(obj["apiVersion"], obj["kind"])
                namespace = object_namespace(resource, obj, self.target.namespace)
                self.checkpoint()
                created, stored = self.apply(kube, resource, with_protocols(obj), namespace or "", ctx)
            except ClusterError as exc:
                return StepResult(StepStatus.FAILED, error=f"{obj['kind']} {name}: {exc}")
            self.say(f"{resource.describe(name)} {'created' if created else 'configured'}")
            applied.append((resource, namespace, stored))
        outputs = {
            "applied": str(len(applied)),
            "objects": ",".join(r.describe(o["metadata"]["name"]) for r, _, o in applied),
        }
        if ctx.params.get("wait", True):
            failure = wait_ready(self, kube, applied)
            if failure:
                return StepResult(StepStatus.FAILED, outputs=outputs, error=failure)
        return StepResult(StepStatus.SUCCESS, exit_code=0, outputs=outputs)

    def apply(
        self, kube: Kube, resource: Resource, obj: dict[str, Any], namespace: str, ctx: StepContext
    ) -> tuple[bool, Any]:
        """Server-side apply; fields last changed by a k8s.rollout step (an undo, say) go back to the manifests'
        values, while a conflict with anybody else fails unless ``force``."""
        force = bool(ctx.params.get("force"))
        try:
            return kube.apply(resource, obj, namespace, force=force)
        except ClusterError as exc:
            managers = set(_CONFLICT.findall(str(exc))) if exc.status == 409 else set()
            if managers != {ROLLOUT_MANAGER}:
                raise
        self.say(f"{resource.describe(obj['metadata']['name'])}: taking over fields a k8s.rollout step changed")
        return kube.apply(resource, obj, namespace, force=True)
