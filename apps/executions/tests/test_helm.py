"""helm steps on a real worker with the real helm 3 binary against the real Kubernetes 1.20 cluster.

The chart is written by the test (a ConfigMap and a busybox Deployment on the host network) and copied into
the run's workspace by a shell step, as a directory and as a packaged .tgz.
"""

from __future__ import annotations

import tarfile
import textwrap
from pathlib import Path
from typing import Any

import psutil
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ansflow.testing import wait_until
from apps.executions.choices import StepStatus
from apps.executions.models import Execution
from apps.executions.services import execution_cancel
from apps.k8s_integration.tests.cluster import HELM, KubeCluster

from .helpers import log_text, pipeline_yaml, run, start, superuser, wait_done
from .kube_helpers import project_cluster

pytestmark = [pytest.mark.k8s, pytest.mark.django_db(transaction=True)]

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: demo\nversion: {version}\nappVersion: '1.0'\n",
    "values.yaml": "greeting: hello\nimage: {image}\n",
    "templates/configmap.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{{{ .Release.Name }}}}-config
        data:
          greeting: {{{{ .Values.greeting | quote }}}}
        """,
    "templates/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{{{ .Release.Name }}}}
          labels: {{app.kubernetes.io/instance: {{{{ .Release.Name }}}}}}
        spec:
          replicas: 1
          selector: {{matchLabels: {{app.kubernetes.io/instance: {{{{ .Release.Name }}}}}}}}
          template:
            metadata: {{labels: {{app.kubernetes.io/instance: {{{{ .Release.Name }}}}}}}}
            spec:
              hostNetwork: true
              terminationGracePeriodSeconds: 1
              containers:
                - name: main
                  image: {{{{ .Values.image }}}}
                  imagePullPolicy: Never
                  command: [sh, -c, "echo greeting={{{{ .Values.greeting }}}}; exec sleep 3600"]
        """,
}


def write_chart(root: Path, image: str, version: str) -> Path:
    chart = root / "demo"
    for name, text in CHART.items():
        path = chart / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).format(image=image, version=version))
    return chart


@pytest.fixture
def charts(tmp_path: Path, kube_cluster: KubeCluster) -> dict[str, Path]:
    """The chart as a directory (0.1.0) and packaged (0.2.0), as ``helm package`` lays a .tgz out."""
    directory = write_chart(tmp_path / "dir", kube_cluster.busybox_image, "0.1.0")
    packaged = write_chart(tmp_path / "pkg", kube_cluster.busybox_image, "0.2.0")
    tgz = tmp_path / "demo-0.2.0.tgz"
    with tarfile.open(tgz, "w:gz") as archive:
        archive.add(packaged, arcname="demo")
    return {"dir": directory, "tgz": tgz}


@pytest.fixture
def kube(kube_cluster: KubeCluster, kube_namespace: str, celery_worker: Any) -> KubeCluster:
    project_cluster(kube_cluster, "kube", kube_cluster.admin_token, kube_namespace)
    return kube_cluster


def copy_step(charts: dict[str, Path]) -> str:
    return (
        "- id: prep\n  type: shell\n"
        f"  env: {{CHART_DIR: '{charts['dir']}', CHART_TGZ: '{charts['tgz']}'}}\n"
        '  run: cp -r "$CHART_DIR" chart && cp "$CHART_TGZ" .\n'
    )


def never_ready(charts: dict[str, Path], release: str, timeout: str) -> str:
    """Steps that install the chart with an image the node does not have (pull policy Never): never ready."""
    return copy_step(charts) + (
        f"- id: install\n  type: helm\n  needs: [prep]\n  timeout: {timeout}\n"
        f"  with: {{cluster: kube, action: install, release: {release}, chart: chart, "
        'set: {image: "localhost/missing:1"}}\n'
    )


def greeting(kube: KubeCluster, namespace: str) -> str | None:
    with kube.admin_api() as api:
        try:
            return client.CoreV1Api(api).read_namespaced_config_map("demo-config", namespace).data["greeting"]
        except ApiException as error:
            if error.status == 404:
                return None
            raise


def outputs(execution: Execution, step_id: str) -> dict[str, str]:
    return dict(execution.steps.get(step_id=step_id).outputs)


def history_rows(execution: Execution, step_id: str) -> list[list[str]]:
    """The rows of the last history table in the step's log, without the time: [revision, status, chart, app
    version, description words...]."""
    lines = log_text(execution, step_id)
    start_at = max(i for i, line in enumerate(lines) if line.startswith("history of release demo"))
    rows = []
    for line in lines[start_at + 2 :]:
        if not line.startswith("  "):
            break
        revision, _updated, *rest = line.split()
        rows.append([revision, *rest])
    return rows


def assert_no_token(kube: KubeCluster, *executions: Execution) -> None:
    for execution in executions:
        texts = log_text(execution) + list(execution.steps.values_list("error", flat=True))
        assert not any(kube.admin_token in text for text in texts)


def test_install_upgrade_history_rollback_and_uninstall(
    kube: KubeCluster, kube_namespace: str, charts: dict[str, Path]
) -> None:
    steps = copy_step(charts) + textwrap.dedent("""\
        - id: install
          type: helm
          needs: [prep]
          timeout: 3m
          with: {cluster: kube, action: install, release: demo, chart: chart, values: {greeting: "{{ inputs.hi }}"}}
        - id: upgrade
          type: helm
          needs: [install]
          timeout: 3m
          with: {cluster: kube, action: upgrade, release: demo, chart: demo-0.2.0.tgz, set: {greeting: changed}}
        - id: history
          type: helm
          needs: [upgrade]
          with: {cluster: kube, action: history, release: demo}
        """)
    up = run(pipeline_yaml("helm-up", steps, extra="inputs: {hi: {type: string, default: hi}}\n"), timeout=400)
    assert up.status == "success", "\n".join(log_text(up))
    assert outputs(up, "install") == {"revision": "1", "status": "deployed"}
    assert outputs(up, "upgrade") == {"revision": "2", "status": "deployed"}
    assert outputs(up, "history") == {"revision": "2", "status": "deployed"}
    install_log = log_text(up, "install")
    assert (
        install_log[0]
        == f"cluster kube ({kube.server}), namespace {kube_namespace}, as credential kube-kube (bearer token)"
    )
    assert install_log[1].startswith("helm install demo ")
    assert " --wait --timeout " in install_log[1]
    assert history_rows(up, "history") == [
        ["1", "superseded", "demo-0.1.0", "1.0", "Install", "complete"],
        ["2", "deployed", "demo-0.2.0", "1.0", "Upgrade", "complete"],
    ]
    assert greeting(kube, kube_namespace) == "changed"
    with kube.admin_api() as api:
        deployment = client.AppsV1Api(api).read_namespaced_deployment("demo", kube_namespace)
    assert deployment.status.ready_replicas == 1  # --wait waited for the rollout

    back_steps = """\
- id: back
  type: helm
  timeout: 3m
  with: {cluster: kube, action: rollback, release: demo, revision: 1}
- id: status
  type: helm
  needs: [back]
  with: {cluster: kube, action: status, release: demo}
"""
    back = run(pipeline_yaml("helm-back", back_steps), timeout=300)
    assert back.status == "success", "\n".join(log_text(back))
    assert outputs(back, "back") == {"revision": "3", "status": "deployed"}
    assert history_rows(back, "back")[-1] == ["3", "deployed", "demo-0.1.0", "1.0", "Rollback", "to", "1"]
    assert "STATUS: deployed" in log_text(back, "status")
    assert greeting(kube, kube_namespace) == "hi"

    gone = run(
        pipeline_yaml(
            "helm-gone", "- id: gone\n  type: helm\n  with: {cluster: kube, action: uninstall, release: demo}\n"
        ),
        timeout=300,
    )
    assert gone.status == "success", "\n".join(log_text(gone))
    assert 'release "demo" uninstalled' in log_text(gone, "gone")
    assert greeting(kube, kube_namespace) is None
    with kube.admin_api() as api:
        releases = client.CoreV1Api(api).list_namespaced_secret(kube_namespace, label_selector="owner=helm").items
    assert releases == []
    assert_no_token(kube, up, back, gone)


def test_a_wait_that_cannot_succeed_ends_at_the_step_timeout_with_the_reason(
    kube: KubeCluster, kube_namespace: str, charts: dict[str, Path]
) -> None:
    execution = run(pipeline_yaml("helm-never-ready", never_ready(charts, "demo", "25s")), timeout=300)
    step = execution.steps.get(step_id="install")
    lines = log_text(execution, "install")
    assert step.status == StepStatus.TIMED_OUT, "\n".join(lines)
    assert step.error.startswith("helm install demo: not ready within the step timeout (")
    assert "ErrImageNeverPull" in step.error
    # helm ended by itself (its --timeout ran out before the step's), with its own error on stderr.
    assert any(line.startswith("Error: INSTALLATION FAILED") for line in lines)
    assert "why demo is not ready:" in lines
    assert any("Deployment demo" in line for line in lines)
    assert outputs(execution, "install") == {}
    assert_no_token(kube, execution)


def helm_processes(release: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0] == str(HELM) and release in cmdline:
            found.append(process)
    return found


def test_cancel_stops_helm(kube: KubeCluster, kube_namespace: str, charts: dict[str, Path]) -> None:
    execution = start(pipeline_yaml("helm-cancel", never_ready(charts, "stuck", "10m")))
    wait_until(lambda: helm_processes("stuck"), timeout=120, message="helm install runs")
    execution_cancel(actor=superuser(), execution=execution)
    done = wait_done(execution, timeout=60)
    assert done.status == "canceled"
    assert done.steps.get(step_id="install").status == StepStatus.CANCELED
    wait_until(lambda: not helm_processes("stuck"), timeout=30, message="helm's process group is gone")
