"""What the cluster tests share: a project with a member per role (each with an API token), clusters acting with
each kind of credential, and busybox workloads for the real cluster (``hostNetwork``, images never pulled)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from kubernetes import client

from ansflow.testing import wait_until
from apps.accounts.models import Project
from apps.accounts.services import credential_create, project_create
from apps.accounts.tests.factories import make_token, make_user_with_role
from apps.k8s_integration.clusters.services import cluster_create
from apps.k8s_integration.models import Cluster

ROLES = ("viewer", "operator", "maintainer")


@dataclass
class Shop:
    """Project "shop": a superuser, one user and token per role, and an outsider (owner of another project)."""

    project: Project
    root: Any
    users: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.keys[role]}"}

    def cluster(self, name: str, *, server: str, ca: str = "", kind: str = "bearer_token", **secret: str) -> Cluster:
        """A cluster acting with a new credential of ``kind`` holding ``secret`` (token=, certificate=/key=...)."""
        credential = credential_create(actor=self.root, project=self.project, name=f"{name}-cred", kind=kind,
                                       fields=dict(secret))  # fmt: skip
        return cluster_create(
            actor=self.root, project=self.project, name=name, server=server, ca_bundle=ca, credential=credential
        )


def make_shop() -> Shop:
    root = get_user_model().objects.create_superuser("root", password="x")
    shop = Shop(project=project_create(actor=root, slug="shop", name="Shop"), root=root)
    elsewhere = project_create(actor=root, slug="elsewhere", name="Elsewhere")
    for role in ROLES:
        shop.users[role] = make_user_with_role(shop.project, role, username=role, is_staff=True)
    shop.users["outsider"] = make_user_with_role(elsewhere, "owner", username="outsider", is_staff=True)
    shop.users["superuser"] = root
    shop.keys = {role: make_token(user) for role, user in shop.users.items()}
    return shop


# --- workloads on the real cluster -------------------------------------------------------------------------


def pod_spec(image: str, script: str, restart: str = "Always") -> dict[str, Any]:
    return {
        "hostNetwork": True,
        "restartPolicy": restart,
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never", "command": ["sh", "-c", script]}],
    }


def deployment(name: str, image: str, replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels or selector},
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": selector},
                              "spec": pod_spec(image, f"echo {name} started; exec sleep 3600")}},
    }  # fmt: skip


def pod(name: str, image: str, script: str, restart: str = "Never") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": pod_spec(image, script, restart)}  # fmt: skip


def rolled_out(api: client.ApiClient, namespace: str, name: str, replicas: int) -> bool:
    deployment = client.AppsV1Api(api).read_namespaced_deployment_status(name, namespace)
    status = deployment.status
    return bool(
        (status.observed_generation or 0) >= deployment.metadata.generation
        and (status.updated_replicas or 0) == replicas
        and (status.ready_replicas or 0) == replicas
        and (status.available_replicas or 0) == replicas
        and (status.replicas or 0) == replicas
    )


def wait_rolled_out(api: client.ApiClient, namespace: str, name: str, replicas: int) -> None:
    wait_until(lambda: rolled_out(api, namespace, name, replicas), timeout=120, interval=0.2,
               message=f"deployment {namespace}/{name} rolled out with {replicas} replicas")  # fmt: skip


def pod_phase(api: client.ApiClient, namespace: str, name: str) -> str:
    return str(client.CoreV1Api(api).read_namespaced_pod(name, namespace).status.phase)
