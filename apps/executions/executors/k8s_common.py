"""What every Kubernetes and Helm step shares: the cluster it names, the namespace, the client, the first log
line, masking, the step timeout and cancel.

``with.cluster`` names a Cluster of the run's project (an unknown name fails the step at start, like a Docker
host); the namespace is ``with.namespace`` or the cluster's default namespace. The cluster's credential is
decrypted for the step, audited as used by it and its secret values masked in every line the step writes. The
client comes from :func:`apps.k8s_integration.clusters.kube.kube_client`, never from ambient configuration.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client as k8s

from apps.accounts.choices import CredentialKind
from apps.k8s_integration.clusters.kube import (
    ClusterError,
    Identity,
    call,
    cluster_identity,
    kube_client,
    kubeconfig_context,
)
from apps.k8s_integration.models import Cluster

from ..choices import LogStream, StepStatus
from ..engine.logsink import LogSink
from .base import StepContext, StepResult, StoppableStep
from .targets import StepCredential, project_target, target_credential

CLUSTER_HINT = "add it in the admin under Clusters"


@dataclass
class KubeTarget:
    """The cluster a step acts on, the namespace it acts in and who it acts as."""

    cluster: Cluster
    namespace: str
    identity: Identity
    credential: StepCredential

    def describe(self, server: str = "") -> str:
        """The first line of every k8s/helm step: no secret in it, only names."""
        where = server or self.cluster.server or "server from the kubeconfig"
        return f"cluster {self.cluster.name} ({where}), namespace {self.namespace}, as {self.identity}"


def kube_target(ctx: StepContext) -> KubeTarget:
    """The step's ``with.cluster`` in the run's project, its namespace and its decrypted, masked credential."""
    name = str(ctx.params.get("cluster") or "")
    if not name:
        raise ValueError(f"{ctx.spec.get('type')} needs `cluster:`, the name of one of the project's clusters")
    cluster = project_target(ctx, Cluster, name, "Kubernetes cluster", CLUSTER_HINT)
    credential = target_credential(ctx, cluster.credential, f"cluster {cluster.name}")
    namespace = str(ctx.params.get("namespace") or cluster.default_namespace)
    return KubeTarget(cluster=cluster, namespace=namespace, identity=cluster_identity(cluster), credential=credential)


def kubeconfig_yaml(target: KubeTarget) -> str:
    """A kubeconfig for tools that need one (helm): the cluster's server, CA and credential, the step's
    namespace. It holds the secret: write it only into a ``PrivateDir``."""
    cluster, fields = target.cluster, target.credential.fields
    server, ca = cluster.server, cluster.ca_bundle
    if target.credential.kind == CredentialKind.KUBECONFIG:
        found, user = kubeconfig_context(cluster, fields.get("kubeconfig", ""))
        server = server or found.get("server", "")
        ca_data = _b64(ca) if ca else found.get("certificate-authority-data", "")
    else:
        ca_data = _b64(ca) if ca else ""
        if target.credential.kind == CredentialKind.BEARER_TOKEN:
            user = {"token": fields.get("token", "").strip()}
        else:
            user = {"client-certificate-data": _b64(fields["certificate"]), "client-key-data": _b64(fields["key"])}
    entry: dict[str, str] = {"server": server}
    if ca_data:
        entry["certificate-authority-data"] = ca_data
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "ansflow",
        "clusters": [{"name": cluster.name, "cluster": entry}],
        "users": [{"name": "ansflow", "user": user}],
        "contexts": [{"name": "ansflow",
                      "context": {"cluster": cluster.name, "user": "ansflow", "namespace": target.namespace}}],
    })  # fmt: skip


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class KubeStep(StoppableStep):
    """Base of the k8s kinds: resolves the target in ``prepare``; ``run`` opens the client, writes the first
    line, enforces the step timeout and turns cluster errors into a failed step with the cause. Masking is the
    sink's and the runner's: the credential's secret values are in ``ctx.secrets`` once ``prepare`` ran.

    Subclasses implement ``perform(ctx, api)``; long waits use :meth:`pause` (raises :class:`Stopped` on
    cancel or timeout) and may override :meth:`on_stop` to clean up remote objects.
    """

    def __init__(self) -> None:
        super().__init__()
        self.target: KubeTarget | None = None
        self.sink: LogSink | None = None

    def prepare(self, ctx: StepContext) -> None:
        self.target = kube_target(ctx)

    # -- output -----------------------------------------------------------------------------------------

    def say(self, text: str, stream: str = LogStream.SYSTEM) -> None:
        """A line of the step log (the sink masks the step's secrets, the cluster credential's included)."""
        assert self.sink is not None
        self.sink.write(stream, text)

    # -- the run ----------------------------------------------------------------------------------------

    def run(self, ctx: StepContext, sink: LogSink) -> StepResult:
        self.sink = sink
        return self.until_stopped(ctx, lambda: self._connected(ctx))

    def _connected(self, ctx: StepContext) -> StepResult:
        assert self.target is not None
        try:
            with kube_client(self.target.cluster) as api:
                self.say(self.target.describe(api.configuration.host))
                return self.perform(ctx, api)
        except ClusterError as exc:
            return StepResult(StepStatus.FAILED, error=str(exc))  # the runner masks step errors

    def perform(self, ctx: StepContext, api: k8s.ApiClient) -> StepResult:
        raise NotImplementedError

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API call; failures become :class:`ClusterError` naming the cause (the server's message too)."""
        assert self.target is not None
        self.checkpoint()
        return call(self.target.cluster, fn, *args, **kwargs)
