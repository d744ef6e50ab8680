"""k8s.job on a real worker against the real Kubernetes 1.20 cluster: live log, exit codes, cancel, timeout and
re-attachment after the worker is SIGKILLed.

The jobs' containers wait on a gate the test opens (an HTTP server on 127.0.0.1 that answers 404 until then;
the pods share the host's network), so "the Job has not ended yet" is a fact, not a matter of timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client

from ansflow.testing import wait_until
from apps.accounts.services import credential_create
from apps.executions.choices import LogStream, StepStatus
from apps.executions.engine.reaper import reap
from apps.executions.models import Execution, LogLine, StepAttempt
from apps.executions.services import execution_cancel
from apps.k8s_integration.tests.cluster import KubeCluster

from .helpers import log_text, pipeline_yaml, project, start, superuser, wait_done
from .kube_helpers import project_cluster

pytestmark = [pytest.mark.k8s, pytest.mark.django_db(transaction=True)]

SECRET = "s3cr3t-job-value"


class Gate:
    """``GET /go`` answers 404 until ``open()``, then 200."""

    def __init__(self) -> None:
        gate = self
        self.opened = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if gate.opened.is_set() else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def wait(self) -> str:
        """Shell that blocks until the gate opens."""
        port = self.server.server_address[1]
        return f"until wget -q -O /dev/null http://127.0.0.1:{port}/go 2>/dev/null; do sleep 0.2; done"

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gate() -> Iterator[Gate]:
    opened = Gate()
    yield opened
    opened.close()


@pytest.fixture
def kube(kube_cluster: KubeCluster, kube_namespace: str, celery_worker: Any) -> KubeCluster:
    """Cluster ``kube`` of the test project (admin token, the test's namespace as its default) and a worker."""
    project_cluster(kube_cluster, "kube", kube_cluster.admin_token, kube_namespace)
    return kube_cluster


def job_step(image: str, script: str, extra: str = "", options: str = "") -> str:
    """A k8s.job step ``job`` running ``script`` in busybox; ``extra`` step keys, ``options`` more ``with`` keys."""
    return (
        f"- id: job\n  type: k8s.job\n{extra}"
        f"  with:\n    cluster: kube\n    image: {image}\n    image_pull_policy: Never\n    host_network: true\n"
        f"    grace_period: 1s\n    command: [sh, -c, {script!r}]\n{options}"
    )


def jobs_of(kube: KubeCluster, namespace: str, execution: Execution) -> list[Any]:
    with kube.admin_api() as api:
        selector = f"ansflow.io/execution={execution.pk}"
        return list(client.BatchV1Api(api).list_namespaced_job(namespace, label_selector=selector).items)


def pods_of(kube: KubeCluster, namespace: str, execution: Execution) -> list[Any]:
    with kube.admin_api() as api:
        selector = f"ansflow.io/execution={execution.pk}"
        return list(client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items)


def stdout_of(execution: Execution, step_id: str) -> list[str]:
    lines = LogLine.objects.filter(execution=execution, step__step_id=step_id, stream=LogStream.STDOUT)
    return list(lines.order_by("seq").values_list("text", flat=True))


def test_output_streams_live_secrets_travel_in_a_secret_and_the_job_goes_away(
    kube: KubeCluster, kube_namespace: str, gate: Gate
) -> None:
    credential_create(actor=superuser(), project=project(), name="app", kind="secret_text", fields={"secret": SECRET})
    script = f'echo "hello $GREETING"; echo "token=$TOKEN"; echo waiting; {gate.wait}; echo "::set-output answer=42"'
    extra = '  outputs: [answer]\n  env: {GREETING: "{{ inputs.who }}", TOKEN: {secret: app.secret}}\n'
    execution = start(
        pipeline_yaml(
            "k8s-job-live",
            job_step(kube.busybox_image, script, extra),
            extra="inputs: {who: {type: string, default: world}}\ncredentials: [app]\n",
        ),
        inputs={"who": "ansflow"},
    )
    wait_until(lambda: "waiting" in log_text(execution, "job"), timeout=120, message="the job's first lines")
    # The container blocks on the closed gate: these lines reached the database while the Job runs.
    (job,) = jobs_of(kube, kube_namespace, execution)
    assert not job.status.succeeded
    assert not job.status.failed
    assert execution.steps.get(step_id="job").status == StepStatus.RUNNING
    assert stdout_of(execution, "job") == ["hello ansflow", "token=***", "waiting"], log_text(execution, "job")
    step = execution.steps.get(step_id="job")
    assert job.metadata.labels["ansflow.io/step"] == str(step.pk)
    assert job.metadata.labels["ansflow.io/attempt"] == "1"
    assert job.metadata.annotations["ansflow.io/step-id"] == "job"
    env = {item.name: item for item in job.spec.template.spec.containers[0].env}
    assert env["GREETING"].value == "ansflow"
    assert env["TOKEN"].value is None
    assert env["TOKEN"].value_from.secret_key_ref.name == f"{job.metadata.name}-env"
    with kube.admin_api() as api:
        secret = client.CoreV1Api(api).read_namespaced_secret(f"{job.metadata.name}-env", kube_namespace)
    assert [(ref.kind, ref.name) for ref in secret.metadata.owner_references] == [("Job", job.metadata.name)]

    gate.open()
    done = wait_done(execution, timeout=120)
    assert done.status == "success", "\n".join(log_text(done))
    step = done.steps.get(step_id="job")
    assert step.outputs == {"answer": "42", "exit_code": "0", "job": job.metadata.name}
    lines = log_text(done, "job")
    assert (
        lines[0] == f"cluster kube ({kube.server}), namespace {kube_namespace}, as credential kube-kube (bearer token)"
    )
    assert lines[1] == f"created Job {kube_namespace}/{job.metadata.name}"
    assert f"Job {kube_namespace}/{job.metadata.name} succeeded" in lines
    assert lines[-1] == f"deleted Job {kube_namespace}/{job.metadata.name} (delete: always)"
    assert not any(SECRET in line or kube.admin_token in line for line in lines)
    wait_until(lambda: not pods_of(kube, kube_namespace, done), timeout=60, message="the job's pods are removed")
    assert jobs_of(kube, kube_namespace, done) == []


def test_a_failing_container_fails_the_step_with_its_exit_code(kube: KubeCluster, kube_namespace: str) -> None:
    step_yaml = job_step(kube.busybox_image, "echo bye; exit 7", options="    delete: never\n")
    execution = wait_done(start(pipeline_yaml("k8s-job-exit", step_yaml)), timeout=120)
    step = execution.steps.get(step_id="job")
    assert execution.status == "failed"
    assert step.status == StepStatus.FAILED
    assert step.exit_code == 7
    (job,) = jobs_of(kube, kube_namespace, execution)  # delete: never keeps it
    where = f"Job {kube_namespace}/{job.metadata.name}"
    assert step.error.startswith(f"{where} failed (BackoffLimitExceeded")
    assert step.error.endswith("its container exited with code 7")
    lines = log_text(execution, "job")
    assert "bye" in lines
    assert any(
        line.startswith(f"pod {job.metadata.name}-") and line.endswith("exited with code 7 (Error)") for line in lines
    )
    assert f"kept {where} (delete: never)" in lines


def test_cancel_deletes_the_job_and_its_pods(kube: KubeCluster, kube_namespace: str, gate: Gate) -> None:
    execution = start(pipeline_yaml("k8s-job-cancel", job_step(kube.busybox_image, f"echo started; {gate.wait}")))
    wait_until(lambda: "started" in log_text(execution, "job"), timeout=120, message="the job runs")
    assert len(jobs_of(kube, kube_namespace, execution)) == 1
    execution_cancel(actor=superuser(), execution=execution)
    done = wait_done(execution, timeout=60)
    assert done.status == "canceled"
    assert done.steps.get(step_id="job").status == StepStatus.CANCELED
    wait_until(
        lambda: not jobs_of(kube, kube_namespace, done) and not pods_of(kube, kube_namespace, done),
        timeout=60,
        message="no Job and no pod of the canceled step",
    )
    name = f"{kube_namespace}/ansflow-{done.pk}-job-"
    wait_until(
        lambda: any(line.startswith(f"deleted Job {name}") for line in log_text(done, "job")),
        timeout=60,
        message="the step says it deleted the Job",
    )


def test_the_step_timeout_deletes_the_job_even_when_it_is_to_be_kept(
    kube: KubeCluster, kube_namespace: str, gate: Gate
) -> None:
    step_yaml = job_step(kube.busybox_image, f"echo started; {gate.wait}", "  timeout: 15s\n", "    delete: never\n")
    execution = wait_done(start(pipeline_yaml("k8s-job-timeout", step_yaml)), timeout=120)
    step = execution.steps.get(step_id="job")
    assert step.status == StepStatus.TIMED_OUT, "\n".join(log_text(execution))
    assert "started" in log_text(execution, "job")
    wait_until(
        lambda: not jobs_of(kube, kube_namespace, execution) and not pods_of(kube, kube_namespace, execution),
        timeout=60,
        message="no Job and no pod of the timed-out step",
    )


def test_a_killed_worker_leads_to_reattachment_not_a_second_job(
    kube: KubeCluster, kube_namespace: str, gate: Gate, celery_worker: Any, settings: Any
) -> None:
    settings.HEARTBEAT_TIMEOUT = 2.0  # the reaper runs here, in the test process
    script = f"for i in 1 2 3; do echo before-$i; done; {gate.wait}; for i in 1 2 3; do echo after-$i; done"
    extra = "  retry: {max: 1, on: [lost]}\n"
    step_yaml = job_step(kube.busybox_image, script, extra, "    delete: never\n")
    execution = start(pipeline_yaml("k8s-job-reattach", step_yaml))
    wait_until(lambda: "before-3" in stdout_of(execution, "job"), timeout=120, message="attempt 1 streams")
    celery_worker.kill()
    try:
        wait_until(lambda: reap()["lost"] >= 1, timeout=30, interval=0.2, message="attempt 1 is lost")
    finally:
        celery_worker.start()
        celery_worker.wait_ready()
    (job,) = jobs_of(kube, kube_namespace, execution)
    attached = f"re-attached to Job {kube_namespace}/{job.metadata.name} (created by attempt 1, whose worker was lost)"
    wait_until(
        lambda: any(line.startswith(attached) for line in log_text(execution, "job")),
        timeout=60,
        message="attempt 2 re-attaches",
    )
    gate.open()
    done = wait_done(execution, timeout=120)
    assert done.status == "success", "\n".join(log_text(done))
    history = list(StepAttempt.objects.filter(step__execution=done).values_list("number", "status"))
    assert history == [(1, StepStatus.LOST), (2, StepStatus.SUCCESS)]
    # Exactly one Job was ever created for the step (delete: never keeps it), and it is attempt 1's.
    jobs = jobs_of(kube, kube_namespace, done)
    assert [(j.metadata.name, j.metadata.labels["ansflow.io/attempt"]) for j in jobs] == [(job.metadata.name, "1")]
    # Every line of the container once, in order: nothing lost with the worker, nothing repeated.
    assert stdout_of(done, "job") == ["before-1", "before-2", "before-3", "after-1", "after-2", "after-3"]
    lines = log_text(done, "job")
    assert f"{attached}; 3 of its log lines are already stored, following on after them" in lines
    assert lines.count(f"created Job {kube_namespace}/{job.metadata.name}") == 1


def test_a_job_the_server_rejects_fails_with_its_message_and_leaves_no_secret(
    kube: KubeCluster, kube_namespace: str
) -> None:
    credential_create(actor=superuser(), project=project(), name="app", kind="secret_text", fields={"secret": SECRET})
    extra = "  env: {TOKEN: {secret: app.secret}}\n"
    step_yaml = job_step(kube.busybox_image, "echo never", extra, "    service_account: Not_A_Name\n")
    execution = wait_done(start(pipeline_yaml("k8s-job-422", step_yaml, extra="credentials: [app]\n")), timeout=120)
    step = execution.steps.get(step_id="job")
    assert step.status == StepStatus.FAILED
    assert f"cluster kube ({kube.server}) answered 422: " in step.error
    assert 'spec.template.spec.serviceAccountName: Invalid value: "Not_A_Name"' in step.error
    assert jobs_of(kube, kube_namespace, execution) == []
    with kube.admin_api() as api:
        selector = f"ansflow.io/execution={execution.pk}"
        assert client.CoreV1Api(api).list_namespaced_secret(kube_namespace, label_selector=selector).items == []
