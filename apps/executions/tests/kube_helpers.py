"""Helpers for the k8s step tests: a project cluster acting with one of the test cluster's tokens, busybox
manifests that run on its one node, and reads of what ended up on the cluster."""

from __future__ import annotations

import textwrap
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from apps.accounts.services import credential_create
from apps.k8s_integration.clusters.services import cluster_create
from apps.k8s_integration.models import Cluster
from apps.k8s_integration.tests.cluster import KubeCluster

from .helpers import project, superuser


def project_cluster(kube: KubeCluster, name: str, token: str, namespace: str) -> Cluster:
    """Cluster ``name`` of the test project, acting with ``token`` (credential ``kube-<name>``)."""
    actor = superuser()
    credential = credential_create(
        actor=actor, project=project(), name=f"kube-{name}", kind="bearer_token", fields={"token": token}
    )
    return cluster_create(
        actor=actor,
        project=project(),
        name=name,
        server=kube.server,
        ca_bundle=kube.ca_pem,
        credential=credential,
        default_namespace=namespace,
    )


def deployment_yaml(name: str, image: str, *, replicas: int = 1, env: str = "", labels: str = "") -> str:
    """A Deployment of busybox pods on the host network (sleeping after printing their VERSION)."""
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}, labels: {{app: {name}{labels}}}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              hostNetwork: true
              terminationGracePeriodSeconds: 1
              containers:
                - name: main
                  image: {image}
                  imagePullPolicy: Never
                  command: ["sh", "-c", "echo started VERSION=$VERSION; exec sleep 3600"]
                  env: [{env}]
        """)


def block(text: str, spaces: int) -> str:
    """``text`` indented to sit as a block scalar in steps written from column 0 (see ``pipeline_yaml``)."""
    return textwrap.indent(text, " " * spaces).rstrip("\n")


def apply_step(step_id: str, manifests: str, *, options: str = "") -> str:
    """A k8s.apply step on cluster ``kube`` with ``manifests`` as a block scalar, in steps written from column 0;
    ``options`` are more step keys (``needs: [a]``, ``timeout: 15s``), one per line."""
    extra = "".join(f"  {line}\n" for line in options.splitlines() if line.strip())
    return (
        f"- id: {step_id}\n  type: k8s.apply\n{extra}  with:\n    cluster: kube\n    manifests: |\n"
        f"{block(manifests, 6)}\n"
    )


def read(kube: KubeCluster, kind: str, namespace: str, name: str) -> Any:
    """The object as the cluster has it now, or None."""
    with kube.admin_api() as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        reader = {
            "ConfigMap": core.read_namespaced_config_map,
            "Service": core.read_namespaced_service,
            "Deployment": apps.read_namespaced_deployment,
        }[kind]
        try:
            return reader(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
