"""``k8s.delete``: delete objects from a project's cluster, named by manifests (as ``k8s.apply`` takes them) or
by ``kind`` with a ``name`` or a label ``selector``; optionally wait until they are gone.

An object that is not there fails the step unless ``ignore_not_found`` (as ``kubectl delete`` does); deletion
propagates in the background by default, so a Deployment takes its ReplicaSets and pods with it.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from apps.k8s_integration.clusters.kube import ClusterError
from apps.pipelines.spec.steps.k8s import KNOWN_KINDS

from ..choices import StepStatus
from .base import StepContext, StepResult, register
from .k8s_api import Kube, Resource
from .k8s_apply import object_namespace
from .k8s_common import KubeStep
from .k8s_manifests import FIRST_KINDS, load_objects
from .k8s_wait import POLL_INTERVAL


@register
class K8sDeleteExecutor(KubeStep):
    kind = "k8s.delete"

    def __init__(self) -> None:
        super().__init__()
        self.objects: list[dict[str, Any]] = []

    def prepare(self, ctx: StepContext) -> None:
        super().prepare(ctx)
        if ctx.params.get("manifests") is not None or ctx.params.get("path"):
            # Namespaces last: what lives in them goes first.
            self.objects = list(reversed(load_objects(ctx)))
            return
        kind = str(ctx.params.get("kind") or "")
        api_version = str(ctx.params.get("api_version") or KNOWN_KINDS.get(kind, ""))
        if not api_version:
            raise ValueError(f"k8s.delete: kind {kind!r} needs `api_version` (for example example.com/v1)")
        self.objects = [{"apiVersion": api_version, "kind": kind, "metadata": {"name": ctx.params.get("name") or ""}}]

    def perform(self, ctx: StepContext, api: k8s.ApiClient) -> StepResult:
        assert self.target is not None
        kube = Kube(api, self.target.cluster)
        params = ctx.params
        propagation = str(params.get("propagation") or "Background")
        gone: list[tuple[Resource, str | None, str]] = []
        missing: list[str] = []
        try:
            for resource, namespace, name in self._targets(kube, params):
                self.checkpoint()
                label = resource.describe(name)
                if kube.delete(resource, namespace, name, propagation):
                    self.say(f"{label} deleted")
                    gone.append((resource, namespace, name))
                else:
                    self.say(f"{label} not found")
                    missing.append(label)
            if missing and not params.get("ignore_not_found"):
                return StepResult(
                    StepStatus.FAILED,
                    outputs={"deleted": str(len(gone))},
                    error=f"not found: {', '.join(missing)} (set ignore_not_found: true to allow this)",
                )
            if params.get("wait", True) and gone:
                self._wait_gone(kube, gone)
        except ClusterError as exc:
            return StepResult(StepStatus.FAILED, outputs={"deleted": str(len(gone))}, error=str(exc))
        return StepResult(StepStatus.SUCCESS, exit_code=0, outputs={"deleted": str(len(gone))})

    def _targets(self, kube: Kube, params: dict[str, Any]) -> list[tuple[Resource, str | None, str]]:
        """(kind, namespace, name) of every object to delete; a selector is listed first."""
        assert self.target is not None
        found = []
        for obj in self.objects:
            resource = kube.resource(obj["apiVersion"], obj["kind"])
            namespace = object_namespace(resource, obj, self.target.namespace)
            if params.get("selector") and not obj["metadata"]["name"]:
                matches = kube.list(resource, namespace, selector=str(params["selector"]))
                if not matches:
                    self.say(f"no {obj['kind']} matches {params['selector']!r}")
                found += [(resource, namespace, str(match["metadata"]["name"])) for match in matches]
            else:
                found.append((resource, namespace, str(obj["metadata"]["name"])))
        # Namespaces and CRDs last, so their contents are not taken away behind the step's back first.
        return sorted(found, key=lambda item: item[0].kind in FIRST_KINDS)

    def _wait_gone(self, kube: Kube, gone: list[tuple[Resource, str | None, str]]) -> None:
        self.say("waiting until it is gone" if len(gone) == 1 else f"waiting until the {len(gone)} objects are gone")
        pending = gone
        while pending:
            self.checkpoint()
            pending = [(r, ns, name) for r, ns, name in pending if kube.get(r, ns, name) is not None]
            if pending:
                self.pause(POLL_INTERVAL)
        self.say("all gone")
