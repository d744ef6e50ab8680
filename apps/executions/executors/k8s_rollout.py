"""``k8s.rollout``: ``status``, ``restart`` or ``undo`` of a Deployment, as ``kubectl rollout`` does them.

``restart`` stamps the pod template with ``kubectl.kubernetes.io/restartedAt``; ``undo`` rolls back to the
previous revision (or ``to_revision``) the way kubectl does on Kubernetes 1.20: it finds the Deployment's
ReplicaSet of that revision and patches the Deployment's pod template (and annotations) with that ReplicaSet's
template. ``status`` and, with ``wait`` (the default), the other two wait until the rollout completes within
the step's timeout, printing events and failing pods' logs when it does not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from apps.k8s_integration.clusters.kube import ClusterError

from ..choices import StepStatus
from .base import StepContext, StepResult, register
from .k8s_api import ROLLOUT_MANAGER, Kube, Resource, selector_text
from .k8s_common import KubeStep
from .k8s_wait import progress, wait_ready

DEPLOYMENTS = ("apps/v1", "Deployment")
REPLICA_SETS = ("apps/v1", "ReplicaSet")
REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Annotations of a ReplicaSet that are not copied back onto its Deployment (kubectl's annotationsToSkip).
SKIPPED_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}


class RolloutError(Exception):
    """The action cannot be done as asked (paused, no such revision...)."""


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION) or 0)
    except ValueError:
        return 0


def _template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """A ReplicaSet's pod template as its Deployment would have it (no pod-template-hash label)."""
    template = {**template, "metadata": dict(template.get("metadata") or {})}
    labels = dict(template["metadata"].get("labels") or {})
    labels.pop("pod-template-hash", None)
    template["metadata"]["labels"] = labels
    return template


@register
class K8sRolloutExecutor(KubeStep):
    kind = "k8s.rollout"

    def perform(self, ctx: StepContext, api: k8s.ApiClient) -> StepResult:
        assert self.target is not None
        kube = Kube(api, self.target.cluster)
        namespace, name = self.target.namespace, str(ctx.params["deployment"])
        action = str(ctx.params.get("action") or "status")
        try:
            deployments = kube.resource(*DEPLOYMENTS)
            deployment = kube.get(deployments, namespace, name)
            if deployment is None:
                return StepResult(StepStatus.FAILED, error=f"deployment {name} not found in namespace {namespace}")
            label = deployments.describe(name)
            if action == "restart":
                deployment = self._restart(kube, deployments, deployment)
                self.say(f"{label} restarted")
            elif action == "undo":
                deployment, message = self._undo(kube, deployments, deployment, int(ctx.params.get("to_revision") or 0))
                self.say(f"{label} {message}")
            if action == "status" or ctx.params.get("wait", True):
                if action == "status" and not ctx.params.get("wait", True):
                    self.say(f"{label}: {progress(deployment).message}")
                else:
                    failure = wait_ready(self, kube, [(deployments, namespace, deployment)])
                    if failure:
                        return StepResult(StepStatus.FAILED, error=failure)
            current = kube.get(deployments, namespace, name) or deployment
        except RolloutError as exc:
            return StepResult(StepStatus.FAILED, error=str(exc))
        except ClusterError as exc:
            return StepResult(StepStatus.FAILED, error=str(exc))
        revision = str(_revision(current))
        self.say(f"{label} is at revision {revision}")
        return StepResult(StepStatus.SUCCESS, exit_code=0, outputs={"revision": revision})

    def _restart(self, kube: Kube, deployments: Resource, deployment: dict[str, Any]) -> dict[str, Any]:
        name = deployment["metadata"]["name"]
        if (deployment.get("spec") or {}).get("paused"):
            raise RolloutError(f"deployment {name} is paused; resume it before restarting")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        self.checkpoint()
        return dict(
            kube.patch(
                deployments, self.namespace, name, patch, "application/strategic-merge-patch+json", ROLLOUT_MANAGER
            )
        )

    def _undo(
        self, kube: Kube, deployments: Resource, deployment: dict[str, Any], to_revision: int
    ) -> tuple[dict[str, Any], str]:
        name = deployment["metadata"]["name"]
        if (deployment.get("spec") or {}).get("paused"):
            raise RolloutError(f"deployment {name} is paused; resume it before rolling back")
        target = self._revision_set(kube, deployment, to_revision)
        template = _template_without_hash(target["spec"]["template"])
        if template == deployment["spec"]["template"]:
            return deployment, f"skipped rollback (the current template already matches revision {_revision(target)})"
        annotations = {
            key: value
            for key, value in (deployment["metadata"].get("annotations") or {}).items()
            if key in SKIPPED_ANNOTATIONS
        }
        annotations.update(
            (key, value)
            for key, value in (target["metadata"].get("annotations") or {}).items()
            if key not in SKIPPED_ANNOTATIONS
        )
        patch = [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]
        self.checkpoint()
        updated = kube.patch(deployments, self.namespace, name, patch, "application/json-patch+json", ROLLOUT_MANAGER)
        return dict(updated), f"rolled back to revision {_revision(target)}"

    def _revision_set(self, kube: Kube, deployment: dict[str, Any], to_revision: int) -> dict[str, Any]:
        """The Deployment's ReplicaSet of ``to_revision``, or of the revision before the current one."""
        name, uid = deployment["metadata"]["name"], deployment["metadata"]["uid"]
        owned = [
            rs
            for rs in kube.list(
                kube.resource(*REPLICA_SETS), self.namespace, selector=selector_text(deployment["spec"]["selector"])
            )
            if any(
                ref.get("uid") == uid and ref.get("controller") for ref in rs["metadata"].get("ownerReferences") or []
            )
        ]
        by_revision = {_revision(rs): rs for rs in owned if _revision(rs)}
        if to_revision:
            if to_revision not in by_revision:
                raise RolloutError(f"deployment {name} has no revision {to_revision} (it has {_listed(by_revision)})")
            return by_revision[to_revision]
        current = max(by_revision, default=0)
        previous = max((revision for revision in by_revision if revision < current), default=0)
        if not previous:
            raise RolloutError(f"deployment {name} has no previous revision to roll back to")
        return by_revision[previous]

    @property
    def namespace(self) -> str:
        assert self.target is not None
        return self.target.namespace


def _listed(revisions: dict[int, Any]) -> str:
    return ", ".join(str(revision) for revision in sorted(revisions)) or "none"
