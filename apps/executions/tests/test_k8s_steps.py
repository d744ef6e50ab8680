"""k8s.apply, k8s.rollout and k8s.delete on a real worker against the real Kubernetes 1.20 cluster."""

from __future__ import annotations

import pytest
from kubernetes import client

from ansflow.testing import wait_until
from apps.executions.models import Execution
from apps.executions.services import execution_cancel
from apps.k8s_integration.tests.cluster import KubeCluster

from .helpers import log_text, pipeline_yaml, run, start, statuses, superuser, wait_done
from .kube_helpers import apply_step, deployment_yaml, project_cluster, read

pytestmark = [pytest.mark.k8s, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


@pytest.fixture
def kube(kube_cluster: KubeCluster, kube_namespace: str) -> KubeCluster:
    """Cluster ``kube`` of the test project: the admin token, the test's namespace as its default."""
    project_cluster(kube_cluster, "kube", kube_cluster.admin_token, kube_namespace)
    return kube_cluster


def first_line(kube: KubeCluster, namespace: str, cluster: str = "kube") -> str:
    """What every k8s step logs first; the test clusters' credentials are called kube-<cluster>."""
    return f"cluster {cluster} ({kube.server}), namespace {namespace}, as credential kube-{cluster} (bearer token)"


def assert_no_token(execution: Execution, *tokens: str) -> None:
    texts = log_text(execution) + list(execution.steps.values_list("error", flat=True))
    for token in tokens:
        assert not any(token in text for text in texts)


def web_stack(image: str) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {greeting: '{{ inputs.greeting }}'}\n"
        "---\n"
        + deployment_yaml("web", image, replicas=2, env="{name: VERSION, valueFrom: {configMapKeyRef: "
                          "{name: web, key: greeting}}}")
        + "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 8080, targetPort: 8080}]}\n"
    )  # fmt: skip


def test_apply_configmap_deployment_service_and_wait_for_the_rollout(kube: KubeCluster, kube_namespace: str) -> None:
    steps = f"""\
{apply_step("deploy", web_stack(kube.busybox_image), options="timeout: 3m")}
- id: report
  type: shell
  needs: [deploy]
  env: {{APPLIED: "{{{{ steps.deploy.outputs.applied }}}}", OBJECTS: "{{{{ steps.deploy.outputs.objects }}}}"}}
  run: echo "applied $APPLIED = $OBJECTS"
"""
    yaml_text = pipeline_yaml("k8s-apply", steps, extra="inputs: {greeting: {type: string, default: hello}}\n")
    execution = run(yaml_text, inputs={"greeting": "hi-from-ansflow"}, timeout=240)
    assert execution.status == "success", "\n".join(log_text(execution))
    lines = log_text(execution, "deploy")
    assert lines[0] == first_line(kube, kube_namespace)
    assert lines[1:4] == ["configmap/web created", "deployment.apps/web created", "service/web created"]
    assert "deployment.apps/web rolled out (2 of 2 replicas available)" in lines
    assert log_text(execution, "report") == ["applied 3 = configmap/web,deployment.apps/web,service/web"]
    configmap = read(kube, "ConfigMap", kube_namespace, "web")
    assert configmap.data == {"greeting": "hi-from-ansflow"}
    deployment = read(kube, "Deployment", kube_namespace, "web")
    assert deployment.status.ready_replicas == 2
    assert ("ansflow", "Apply") in {(entry.manager, entry.operation) for entry in deployment.metadata.managed_fields}
    assert read(kube, "Service", kube_namespace, "web").spec.ports[0].port == 8080
    assert_no_token(execution, kube.admin_token)
    # The same manifests again: server-side apply changes nothing and says so per object.
    again = run(yaml_text, inputs={"greeting": "hi-from-ansflow"}, timeout=240)
    assert again.status == "success", "\n".join(log_text(again))
    assert log_text(again, "deploy")[1:4] == [
        "configmap/web configured",
        "deployment.apps/web configured",
        "service/web configured",
    ]


def test_a_broken_manifest_fails_with_the_servers_422_message(kube: KubeCluster, kube_namespace: str) -> None:
    broken = deployment_yaml("broken", kube.busybox_image).replace("replicas: 1", "replicas: -1")
    steps = apply_step("deploy", broken)
    execution = run(pipeline_yaml("k8s-broken", steps), timeout=120)
    deploy = execution.steps.get(step_id="deploy")
    assert deploy.status == "failed"
    message = (
        'Deployment.apps "broken" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )
    assert deploy.error == f"Deployment broken: cluster kube ({kube.server}) answered 422: {message}"
    assert f"deploy: {deploy.error}" in log_text(execution, "deploy")
    assert read(kube, "Deployment", kube_namespace, "broken") is None


def test_rollout_undo_restart_and_status(kube: KubeCluster, kube_namespace: str) -> None:
    def version(number: int) -> str:
        return deployment_yaml("app", kube.busybox_image, env=f"{{name: VERSION, value: '{number}'}}")

    steps = f"""\
{apply_step("v1", version(1))}
{apply_step("v2", version(2), options="needs: [v1]")}
- id: undo
  type: k8s.rollout
  needs: [v2]
  with: {{cluster: kube, deployment: app, action: undo}}
- id: restart
  type: k8s.rollout
  needs: [undo]
  with: {{cluster: kube, deployment: app, action: restart}}
- id: status
  type: k8s.rollout
  needs: [restart]
  with: {{cluster: kube, deployment: app, action: status}}
{apply_step("v3", version(3), options="needs: [status]")}"""
    execution = run(pipeline_yaml("k8s-rollout", steps), timeout=300)
    assert execution.status == "success", "\n".join(log_text(execution))
    outputs = {step.step_id: step.outputs for step in execution.steps.all()}
    assert [outputs[step]["revision"] for step in ("undo", "restart", "status")] == ["3", "4", "4"]
    assert "deployment.apps/app rolled back to revision 1" in log_text(execution, "undo")
    assert "deployment.apps/app restarted" in log_text(execution, "restart")
    status = log_text(execution, "status")
    assert status[0] == first_line(kube, kube_namespace)
    assert "deployment.apps/app rolled out (1 of 1 replicas available)" in status
    # The undo changed fields the manifests set; applying them again takes those fields back.
    assert "deployment.apps/app: taking over fields a k8s.rollout step changed" in log_text(execution, "v3")
    deployment = read(kube, "Deployment", kube_namespace, "app")
    template = deployment.spec.template
    assert [(env.name, env.value) for env in template.spec.containers[0].env] == [("VERSION", "3")]
    assert "kubectl.kubernetes.io/restartedAt" in template.metadata.annotations
    assert deployment.metadata.annotations["deployment.kubernetes.io/revision"] == "5"
    assert deployment.status.updated_replicas == deployment.status.ready_replicas == 1


def test_a_field_another_manager_changed_conflicts_unless_forced(kube: KubeCluster, kube_namespace: str) -> None:
    def config(value: str, force: bool = False) -> str:
        return pipeline_yaml(
            f"k8s-conflict-{value}",
            f"""\
- id: apply
  type: k8s.apply
  with:
    cluster: kube
    force: {str(force).lower()}
    manifests: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: shared}}, data: {{v: "{value}"}}}}
""",
        )

    assert run(config("1")).status == "success"
    with kube.admin_api() as api:
        client.CoreV1Api(api).patch_namespaced_config_map(
            "shared", kube_namespace, {"data": {"v": "by-hand"}}, field_manager="someone"
        )
    refused = run(config("2")).steps.get(step_id="apply")
    assert refused.status == "failed"
    assert refused.error.startswith(f"ConfigMap shared: cluster kube ({kube.server}) answered 409: Apply failed")
    assert 'conflict with "someone"' in refused.error
    assert read(kube, "ConfigMap", kube_namespace, "shared").data == {"v": "by-hand"}
    assert run(config("3", force=True)).status == "success"
    assert read(kube, "ConfigMap", kube_namespace, "shared").data == {"v": "3"}


def test_undo_without_a_previous_revision_says_so(kube: KubeCluster, kube_namespace: str) -> None:
    steps = f"""\
{apply_step("v1", deployment_yaml("solo", kube.busybox_image))}
- id: undo
  type: k8s.rollout
  needs: [v1]
  with: {{cluster: kube, deployment: solo, action: undo}}
- id: missing
  type: k8s.rollout
  needs: [v1]
  with: {{cluster: kube, deployment: nowhere, action: status}}
"""
    execution = run(pipeline_yaml("k8s-undo-first", steps), timeout=180)
    undo, missing = execution.steps.get(step_id="undo"), execution.steps.get(step_id="missing")
    assert (undo.status, undo.error) == ("failed", "deployment solo has no previous revision to roll back to")
    assert (missing.status, missing.error) == ("failed", f"deployment nowhere not found in namespace {kube_namespace}")


def test_apply_from_workspace_files_then_delete(kube: KubeCluster, kube_namespace: str) -> None:
    steps = """\
- id: write
  type: shell
  run: |
    mkdir -p k8s
    printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: a, labels: {app: x}}\\n' > k8s/a.yaml
    echo 'data: {v: "{{ inputs.v }}"}' >> k8s/a.yaml
    printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: b, labels: {app: x}}\\n---\\n' > k8s/b.yml
    printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n' > k8s/c.json
    echo 'not a manifest' > k8s/README
- id: apply
  type: k8s.apply
  needs: [write]
  with: {cluster: kube, path: k8s, template: true}
- id: by-selector
  type: k8s.delete
  needs: [apply]
  with: {cluster: kube, kind: ConfigMap, selector: app=x}
- id: by-file
  type: k8s.delete
  needs: [by-selector]
  with: {cluster: kube, path: k8s/c.json}
- id: missing
  type: k8s.delete
  needs: [by-file]
  with: {cluster: kube, kind: ConfigMap, name: c}
- id: missing-ok
  type: k8s.delete
  needs: [by-file]
  with: {cluster: kube, kind: ConfigMap, name: c, ignore_not_found: true}
"""
    yaml_text = pipeline_yaml("k8s-files", steps, extra="inputs: {v: {type: string, default: rendered}}\n")
    execution = run(yaml_text, timeout=180)
    states = statuses(execution)
    assert states == {
        "write": "success",
        "apply": "success",
        "by-selector": "success",
        "by-file": "success",
        "missing": "failed",
        "missing-ok": "success",
    }, "\n".join(log_text(execution))
    assert log_text(execution, "apply")[1:4] == ["configmap/a created", "configmap/b created", "configmap/c created"]
    outputs = {step.step_id: step.outputs for step in execution.steps.all()}
    assert outputs["apply"]["applied"] == "3"
    assert (outputs["by-selector"]["deleted"], outputs["by-file"]["deleted"]) == ("2", "1")
    assert "configmap/a deleted" in log_text(execution, "by-selector")
    assert execution.steps.get(step_id="missing").error == (
        "not found: configmap/c (set ignore_not_found: true to allow this)"
    )
    for name in "abc":
        assert read(kube, "ConfigMap", kube_namespace, name) is None


def test_a_failing_job_prints_its_pods_log_and_events(kube: KubeCluster, kube_namespace: str) -> None:
    job = f"""\
apiVersion: batch/v1
kind: Job
metadata: {{name: boom}}
spec:
  backoffLimit: 0
  template:
    spec:
      hostNetwork: true
      restartPolicy: Never
      containers:
        - {{name: main, image: {kube.busybox_image}, imagePullPolicy: Never,
            command: ["sh", "-c", "echo job-says-boom; exit 3"]}}
"""
    steps = apply_step("job", job, options="timeout: 3m")
    execution = run(pipeline_yaml("k8s-job-fails", steps), timeout=240)
    step = execution.steps.get(step_id="job")
    assert step.status == "failed", "\n".join(log_text(execution))
    assert step.error.startswith("job.batch/boom failed: BackoffLimitExceeded")
    lines = log_text(execution, "job")
    assert any(line.startswith("  pod boom-") and "main exited 3 (Error)" in line for line in lines), lines
    assert "      job-says-boom" in lines
    assert any(line.startswith("  event of Job boom: Normal SuccessfulCreate") for line in lines), lines


def test_a_rollout_that_cannot_finish_times_out_with_diagnostics(kube: KubeCluster) -> None:
    steps = apply_step("deploy", deployment_yaml("stuck", "localhost/not-there:1"), options="timeout: 15s")
    execution = run(pipeline_yaml("k8s-stuck", steps), timeout=120)
    step = execution.steps.get(step_id="deploy")
    assert (step.status, step.error) == ("timed_out", "timed out after 15 s")
    lines = log_text(execution, "deploy")
    assert "deployment.apps/stuck not ready: 0 of 1 updated replicas available" in lines, lines
    assert any("main waiting: ErrImageNeverPull" in line for line in lines), lines
    assert any("event: Warning ErrImageNeverPull" in line for line in lines), lines


def test_cancel_stops_the_wait(kube: KubeCluster) -> None:
    steps = apply_step("deploy", deployment_yaml("forever", "localhost/not-there:1"))
    execution = start(pipeline_yaml("k8s-cancel", steps))
    wait_until(
        lambda: "waiting for deployment.apps/forever" in log_text(execution, "deploy"),
        timeout=60,
        message="the step waits for the rollout",
    )
    execution_cancel(actor=superuser(), execution=execution)
    done = wait_done(execution, timeout=60)
    assert statuses(done) == {"deploy": "canceled"}


def test_a_viewer_token_is_forbidden_and_says_so(kube_cluster: KubeCluster) -> None:
    project_cluster(kube_cluster, "viewer", kube_cluster.viewer_token, "default")
    steps = """\
- id: deploy
  type: k8s.apply
  with: {cluster: viewer, manifests: {apiVersion: v1, kind: ConfigMap, metadata: {name: nope}}}
"""
    execution = run(pipeline_yaml("k8s-viewer", steps), timeout=120)
    step = execution.steps.get(step_id="deploy")
    assert step.status == "failed"
    assert step.error == (
        f'ConfigMap nope: cluster viewer ({kube_cluster.server}): forbidden: configmaps "nope" is forbidden: '
        'User "ansflow-viewer" cannot patch resource "configmaps" in API group "" in the namespace "default"'
    )
    assert log_text(execution, "deploy")[0] == first_line(kube_cluster, "default", "viewer")
    assert_no_token(execution, kube_cluster.viewer_token)


def test_an_unknown_cluster_fails_at_start_naming_it() -> None:
    steps = """\
- id: deploy
  type: k8s.rollout
  with: {cluster: nowhere, deployment: web, action: status}
"""
    execution = run(pipeline_yaml("k8s-unknown", steps))
    step = execution.steps.get(step_id="deploy")
    assert step.status == "failed"
    assert (
        step.error
        == "Kubernetes cluster 'nowhere' is not configured in project eng (add it in the admin under Clusters)"
    )
    assert log_text(execution, "deploy") == [f"cannot start deploy: {step.error}"]
