"""examples/deploy-to-kubernetes.yaml end to end: the real worker against the real Kubernetes 1.20 cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from kubernetes import client

from apps.k8s_integration.tests.cluster import KubeCluster

from .helpers import log_text, run, statuses
from .kube_helpers import project_cluster, read

pytestmark = [pytest.mark.k8s, pytest.mark.django_db(transaction=True)]

# The test cluster has no pod network and no registry: pods share the node's network, images are loaded on it.
LOCAL_CLUSTER = [
    ("project: demo", "project: eng"),
    ("hostNetwork: false", "hostNetwork: true"),
    ("host_network: false", "host_network: true"),
    ("imagePullPolicy: IfNotPresent", "imagePullPolicy: Never"),
    ("image_pull_policy: IfNotPresent", "image_pull_policy: Never"),
]


def test_the_deploy_to_kubernetes_example_runs_green(celery_worker, kube_cluster: KubeCluster, kube_namespace: str):
    project_cluster(kube_cluster, "dev", kube_cluster.admin_token, kube_namespace)
    text = (Path(settings.BASE_DIR) / "examples" / "deploy-to-kubernetes.yaml").read_text()
    for old, new in LOCAL_CLUSTER:
        assert old in text
        text = text.replace(old, new)
    inputs = {"image": kube_cluster.busybox_image, "version": "2.0.0", "greeting": "hi"}
    execution = run(text, inputs=inputs, timeout=600)
    assert execution.status == "success", "\n".join(log_text(execution))
    assert set(statuses(execution).values()) == {"success"}

    deploy = log_text(execution, "deploy")
    assert deploy[0] == (
        f"cluster dev ({kube_cluster.server}), namespace {kube_namespace}, as credential kube-dev (bearer token)"
    )
    assert deploy[1:4] == ["configmap/web-config created", "deployment.apps/web created", "service/web created"]
    assert "deployment.apps/web rolled out (2 of 2 replicas available)" in deploy
    with kube_cluster.admin_api() as api:
        core = client.CoreV1Api(api)
        pods = core.list_namespaced_pod(kube_namespace, label_selector="app=web").items
        assert len(pods) == 2
        for pod in pods:
            assert core.read_namespaced_pod_log(pod.metadata.name, kube_namespace) == "web 2.0.0 says hi\n"

    # The Job's output is in the step's log, in order, after the line naming the cluster.
    migrate = log_text(execution, "migrate")
    assert migrate[0].startswith(f"cluster dev ({kube_cluster.server}), namespace {kube_namespace}, as ")
    printed = ["migrating to 2.0.0", "migrated users", "migrated orders", "migrated invoices", "migrations done"]
    assert [line for line in migrate if line in printed] == printed

    # Installed (1), upgraded (2), rolled back to the first values (3).
    outputs = {step.step_id: step.outputs for step in execution.steps.all()}
    assert [outputs[step]["revision"] for step in ("release", "upgrade", "rollback")] == ["1", "2", "3"]
    assert read(kube_cluster, "ConfigMap", kube_namespace, "greeter-message").data == {"message": "hi from 2.0.0"}

    every_line = log_text(execution) + list(execution.steps.values_list("error", flat=True))
    assert not any(kube_cluster.admin_token in line for line in every_line)
