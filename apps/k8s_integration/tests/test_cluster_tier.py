"""The cluster tier itself: real pods roll out and log, RBAC and authentication answer as on any cluster,
and Helm 3 installs, upgrades and rolls back a chart on it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from ansflow.testing import wait_until

from .cluster import KubeCluster

pytestmark = pytest.mark.k8s


def busybox_pod_spec(image: str, script: str, restart: str = "Always") -> dict[str, Any]:
    return {
        "hostNetwork": True,
        "restartPolicy": restart,
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never", "command": ["sh", "-c", script],
                        "env": [{"name": "ANSWER", "value": "42"}]}],
    }  # fmt: skip


def deployment(name: str, image: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": busybox_pod_spec(image, "echo started answer=$ANSWER; exec sleep 3600")}},
    }  # fmt: skip


def rolled_out(apps: client.AppsV1Api, namespace: str, name: str, replicas: int) -> bool:
    status = apps.read_namespaced_deployment_status(name, namespace)
    return (
        (status.status.observed_generation or 0) >= status.metadata.generation
        and status.status.updated_replicas == replicas
        and status.status.ready_replicas == replicas
        and status.status.available_replicas == replicas
    )


def test_deployment_of_busybox_rolls_out_and_its_pods_log(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.admin_api() as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment(kube_namespace, deployment("web", kube_cluster.busybox_image, 2))
        wait_until(lambda: rolled_out(apps, kube_namespace, "web", 2), timeout=120, interval=0.2,
                   message="deployment web rolled out")  # fmt: skip
        pods = core.list_namespaced_pod(kube_namespace, label_selector="app=web").items
        assert len(pods) == 2
        assert {pod.status.phase for pod in pods} == {"Running"}
        assert {pod.spec.node_name for pod in pods} == {"localhost"}
        for pod in pods:
            log = wait_until(lambda pod=pod: core.read_namespaced_pod_log(pod.metadata.name, kube_namespace),
                             timeout=30, message="the pod's log")  # fmt: skip
            assert log == "started answer=42\n"


def test_job_runs_to_completion_and_its_pod_log_is_read(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "count"},
        "spec": {"backoffLimit": 0, "template": {"spec": busybox_pod_spec(
            kube_cluster.busybox_image, "for i in 1 2 3; do echo tick $i; done; echo sum=$((ANSWER + 1))", "Never")}},
    }  # fmt: skip
    with kube_cluster.admin_api() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        batch.create_namespaced_job(kube_namespace, job)
        wait_until(lambda: batch.read_namespaced_job_status("count", kube_namespace).status.succeeded == 1,
                   timeout=120, interval=0.2, message="job count succeeded")  # fmt: skip
        (pod,) = core.list_namespaced_pod(kube_namespace, label_selector="job-name=count").items
        assert pod.status.phase == "Succeeded"
        assert core.read_namespaced_pod_log(pod.metadata.name, kube_namespace) == "tick 1\ntick 2\ntick 3\nsum=43\n"


def access(api: client.ApiClient, verb: str, resource: str, namespace: str, group: str = "") -> bool:
    review = client.AuthorizationV1Api(api).create_self_subject_access_review({
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace}}
    })  # fmt: skip
    return bool(review.status.allowed)


def test_viewer_token_may_read_default_but_not_create(kube_cluster: KubeCluster) -> None:
    with kube_cluster.api_client(kube_cluster.viewer_token) as api:
        apps = client.AppsV1Api(api)
        assert apps.list_namespaced_deployment("default").items == []
        with pytest.raises(ApiException) as denied:
            apps.create_namespaced_deployment("default", deployment("nope", kube_cluster.busybox_image, 1))
        assert denied.value.status == 403
        assert 'User "ansflow-viewer" cannot create resource "deployments"' in json.loads(denied.value.body)["message"]
        with pytest.raises(ApiException) as elsewhere:
            client.CoreV1Api(api).list_namespaced_pod("kube-system")
        assert elsewhere.value.status == 403
        assert access(api, "list", "pods", "default") is True
        assert access(api, "create", "deployments", "default", group="apps") is False
        assert access(api, "list", "pods", "kube-system") is False
    with kube_cluster.admin_api() as api:
        assert apps_absent(client.AppsV1Api(api), "default", "nope")


def apps_absent(apps: client.AppsV1Api, namespace: str, name: str) -> bool:
    try:
        apps.read_namespaced_deployment(name, namespace)
    except ApiException as error:
        return error.status == 404
    return False


def test_wrong_token_is_unauthorized_and_client_certificate_is_admin(kube_cluster: KubeCluster) -> None:
    with kube_cluster.api_client("not-a-token") as api, pytest.raises(ApiException) as rejected:
        client.CoreV1Api(api).list_namespace()
    assert rejected.value.status == 401
    with kube_cluster.api_client(client_cert=True) as api:
        names = {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
        assert {"default", "kube-system"} <= names
        assert access(api, "delete", "nodes", "") is True


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\nappVersion: '1'\n",
    "values.yaml": "message: hello\nreplicas: 1\nimage: localhost/busybox:ansflow\n",
    "templates/configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  message: {{ .Values.message | quote }}\n"
    ),
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      hostNetwork: true
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: {{ .Values.image }}
          imagePullPolicy: Never
          command: ["sh", "-c", "echo {{ .Values.message }}; exec sleep 3600"]
""",
}


def test_helm_templates_installs_upgrades_and_rolls_back(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    chart = tmp_path / "tiny"
    for name, text in CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kube_cluster.kubeconfig())
    kubeconfig.chmod(0o600)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           **{f"HELM_{kind}_HOME": str(tmp_path / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")}}  # fmt: skip

    def helm(*argv: str) -> str:
        done = subprocess.run([kube_cluster.helm, *argv, "--kubeconfig", str(kubeconfig), "-n", kube_namespace],
                              env=env, capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
        assert done.returncode == 0, f"helm {' '.join(argv)}: {done.stderr}"
        return done.stdout

    rendered = helm("template", "rel", str(chart), "--set", "message=rendered")
    assert 'message: "rendered"' in rendered
    assert "name: rel-app" in rendered

    with kube_cluster.admin_api() as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)

        def message() -> str:
            return str(core.read_namespaced_config_map("rel-settings", kube_namespace).data["message"])

        helm("install", "rel", str(chart), "--wait", "--timeout", "120s")
        assert message() == "hello"
        assert rolled_out(apps, kube_namespace, "rel-app", 1)

        helm("upgrade", "rel", str(chart), "--set", "message=changed", "--set", "replicas=2", "--wait",
             "--timeout", "120s")  # fmt: skip
        assert message() == "changed"
        assert rolled_out(apps, kube_namespace, "rel-app", 2)

        helm("rollback", "rel", "1", "--wait", "--timeout", "120s")
        assert message() == "hello"
        wait_until(lambda: rolled_out(apps, kube_namespace, "rel-app", 1), timeout=60, message="scaled back to 1")

    history = json.loads(helm("history", "rel", "-o", "json"))
    assert [(entry["revision"], entry["status"]) for entry in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    assert history[-1]["description"] == "Rollback to 1"
    (release,) = json.loads(helm("list", "-o", "json"))
    assert (release["name"], release["revision"], release["status"]) == ("rel", "3", "deployed")
