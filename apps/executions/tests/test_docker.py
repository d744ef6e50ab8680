"""The docker steps on a real worker against podman's Docker API and a real registry on 127.0.0.1."""

from __future__ import annotations

import textwrap
from pathlib import Path

import docker
import pytest
import requests
from django.conf import settings

from ansflow.testing import free_port, wait_until
from apps.accounts.services import credential_create
from apps.executions.services import execution_cancel
from apps.k8s_integration.models import DockerHost, Registry
from apps.k8s_integration.services import docker_host_check, target_create

from .helpers import log_text, pipeline_yaml, project, run, start, statuses, superuser, wait_done
from .realparts import busybox_context

pytestmark = pytest.mark.django_db(transaction=True)

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


@pytest.fixture
def targets(docker_parts):
    actor = superuser()
    host = target_create(actor=actor, model=DockerHost, project=project(), name="default", url=docker_parts.url)
    credential_create(
        actor=actor,
        project=project(),
        name="registry-push",
        kind="registry",
        fields={
            "url": docker_parts.registry_host,
            "username": docker_parts.username,
            "password": docker_parts.password,
        },
    )
    return host


def _registry(docker_parts, password: str | None = None) -> Registry:
    actor = superuser()
    fields = {"url": docker_parts.registry_host, "username": docker_parts.username}
    credential = credential_create(
        actor=actor,
        project=project(),
        name="reg-cred" if password is None else "reg-cred-wrong",
        kind="registry",
        fields={**fields, "password": password or docker_parts.password},
    )
    return target_create(
        actor=actor,
        model=Registry,
        project=project(),
        name="local" if password is None else "local-wrong",
        url=docker_parts.registry_host,
        credential=credential,
    )


def _containers(docker_parts, step_id: str) -> list:
    client = docker.DockerClient(base_url=docker_parts.url)
    try:
        return client.containers.list(all=True, filters={"label": f"ansflow.step={step_id}"})
    finally:
        client.close()


CONTEXT = """
mkdir -p app data
cp /bin/busybox app/busybox
printf 'hello from the workspace\\n' > data/input.txt
cat > app/Dockerfile <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG GREETING=hi
RUN echo "$GREETING" > /greeting
CMD ["cat", "/greeting"]
EOF
"""
# The step that writes the build context, indented to sit among a test's steps.
SOURCE = textwrap.indent(
    "- id: source\n  type: shell\n  run: |\n" + textwrap.indent(CONTEXT.strip("\n"), "    "), " " * 12
)
SOURCE = SOURCE.lstrip()


def test_build_run_push_and_smoke_check(targets, docker_parts):
    _registry(docker_parts)
    execution = run(
        pipeline_yaml(
            "build-and-ship",
            f"""
            {SOURCE}
            - id: build
              type: docker.build
              needs: [source]
              with:
                context: app
                tags: ["ansflow-test/app:{{{{ inputs.version }}}}", "ansflow-test/app:latest"]
                build_args: {{GREETING: "hello {{{{ inputs.version }}}}"}}
                labels: {{org.ansflow.pipeline: "{{{{ execution.pipeline }}}}"}}
            - id: test
              type: docker.run
              needs: [build]
              env: {{API_TOKEN: {{secret: registry-push.password}}}}
              with:
                image: "{{{{ steps.build.outputs.image_id }}}}"
                command: ["sh", "-c", "cat /greeting; cat /data/input.txt; echo token=$API_TOKEN; echo to-stderr >&2"]
                volumes: ["data:/data:ro"]
                environment: {{STAGE: test}}
            - id: push
              type: docker.push
              needs: [test]
              with: {{image: "{{{{ steps.build.outputs.tag }}}}", registry: local}}
            - id: smoke
              type: http
              needs: [push]
              with: {{url: "http://{docker_parts.registry_host}/v2/", expect_status: 401}}
            """,
            extra="inputs: {version: {type: string, default: '1.0'}}\ncredentials: [registry-push]\n",
        ),
        timeout=180,
    )
    assert statuses(execution) == {
        "source": "success",
        "build": "success",
        "test": "success",
        "push": "success",
        "smoke": "success",
    }, "\n".join(log_text(execution))
    build = execution.steps.get(step_id="build").outputs
    assert build["image_id"].startswith("sha256:")
    assert build["tag"] == "ansflow-test/app:1.0"
    assert any(line.startswith("STEP 5/") or "RUN echo" in line for line in log_text(execution, "build"))
    run_lines = log_text(execution, "test")
    assert "hello 1.0" in run_lines
    assert "hello from the workspace" in run_lines
    assert "token=***" in run_lines
    assert "to-stderr" in run_lines
    assert not any(docker_parts.password in line for line in log_text(execution))
    assert execution.steps.get(step_id="test").outputs == {"exit_code": "0"}
    assert _containers(docker_parts, "test") == []
    push = execution.steps.get(step_id="push").outputs
    assert push["image"] == f"{docker_parts.registry_host}/ansflow-test/app:1.0"
    manifest = requests.get(
        f"http://{docker_parts.registry_host}/v2/ansflow-test/app/manifests/1.0",
        auth=(docker_parts.username, docker_parts.password),
        headers={"Accept": MANIFEST_TYPES},
        timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == push["digest"]


def test_a_failing_container_fails_the_step_with_its_exit_code_and_is_removed(targets, docker_parts, tmp_path):
    execution = run(
        pipeline_yaml(
            "docker-fail",
            f"""
            {SOURCE}
            - id: build
              type: docker.build
              needs: [source]
              with: {{context: app, tags: ansflow-test/fail:1}}
            - id: boom
              type: docker.run
              needs: [build]
              with: {{image: ansflow-test/fail:1, command: ["sh", "-c", "echo before; exit 3"]}}
            """,
        ),
        timeout=120,
    )
    boom = execution.steps.get(step_id="boom")
    assert boom.status == "failed"
    assert boom.exit_code == 3
    assert boom.error == "container exited with code 3"
    assert "before" in log_text(execution, "boom")
    assert _containers(docker_parts, "boom") == []


def test_cancel_stops_and_removes_the_container(targets, docker_parts):
    execution = start(
        pipeline_yaml(
            "docker-cancel",
            f"""
            {SOURCE}
            - id: build
              type: docker.build
              needs: [source]
              with: {{context: app, tags: ansflow-test/sleep:1}}
            - id: sleepy
              type: docker.run
              needs: [build]
              with: {{image: ansflow-test/sleep:1, command: ["sh", "-c", "echo sleeping; exec sleep 300"]}}
            """,
        )
    )
    wait_until(lambda: "sleeping" in log_text(execution, "sleepy"), timeout=120, message="the container runs")
    assert len(_containers(docker_parts, "sleepy")) == 1
    execution_cancel(actor=superuser(), execution=execution)
    done = wait_done(execution)
    assert statuses(done)["sleepy"] == "canceled"
    wait_until(lambda: _containers(docker_parts, "sleepy") == [], timeout=30, message="the container is removed")


def test_push_with_a_wrong_password_fails_and_masks_it(targets, docker_parts):
    _registry(docker_parts, password="not-the-Pa55word")
    execution = run(
        pipeline_yaml(
            "docker-push-denied",
            f"""
            {SOURCE}
            - id: build
              type: docker.build
              needs: [source]
              with: {{context: app, tags: ansflow-test/denied:1}}
            - id: push
              type: docker.push
              needs: [build]
              with: {{image: ansflow-test/denied:1, registry: local-wrong}}
            """,
        ),
        timeout=120,
    )
    push = execution.steps.get(step_id="push")
    assert push.status == "failed"
    assert push.error.startswith("push failed: ")
    assert "authentication required" in push.error or "unauthorized" in push.error
    assert not any("not-the-Pa55word" in line for line in log_text(execution))


NO_HOST = """
- id: build
  type: docker.build
  with: {tags: app:1}
- id: after
  type: shell
  needs: [build]
  run: echo built
- id: named
  type: docker.run
  with: {host: builder, image: app:1}
"""


def test_a_project_without_docker_hosts_skips_docker_steps_saying_why(docker_parts):
    execution = run(pipeline_yaml("docker-no-host", NO_HOST))
    build = execution.steps.get(step_id="build")
    assert build.status == "skipped"
    assert "no Docker host is configured in this project" in build.error
    assert "no Docker host is configured in this project" in "\n".join(log_text(execution, "build"))
    assert execution.steps.get(step_id="after").status == "skipped"
    # A host named explicitly is a configuration error, not a skip.
    named = execution.steps.get(step_id="named")
    assert named.status == "failed"
    assert named.error == (
        "Docker host 'builder' is not configured in project eng (add it in the admin under Docker hosts)"
    )


def test_with_docker_hosts_but_no_default_the_step_names_what_is_missing(docker_parts):
    target_create(actor=superuser(), model=DockerHost, project=project(), name="other", url=docker_parts.url)
    execution = run(pipeline_yaml("docker-no-default", NO_HOST))
    assert execution.steps.get(step_id="build").error == (
        "docker.build needs a Docker host: name one with `host:` or add a Docker host called 'default' "
        "to the project in the admin"
    )


def test_docker_host_check_records_the_answer(docker_parts, tmp_path):
    actor = superuser()
    good = target_create(actor=actor, model=DockerHost, project=project(), name="good", url=docker_parts.url)
    bad = target_create(actor=actor, model=DockerHost, project=project(), name="bad", url=f"unix://{tmp_path}/none")
    ok, message = docker_host_check(actor=actor, host=good)
    assert ok
    assert "API 1.41" in message
    ok, message = docker_host_check(actor=actor, host=bad)
    assert not ok
    assert message == f"Docker host bad (unix://{tmp_path}/none) does not answer: no socket at {tmp_path}/none"
    refused = target_create(actor=actor, model=DockerHost, project=project(), name="refused",
                            url=f"tcp://127.0.0.1:{free_port()}")  # fmt: skip
    ok, message = docker_host_check(actor=actor, host=refused)
    assert not ok
    assert message == (
        f"Docker host refused ({refused.url}) does not answer: "
        "connection refused; is the Docker daemon listening there?"
    )
    nowhere = target_create(actor=actor, model=DockerHost, project=project(), name="nowhere",
                            url="tcp://docker.nowhere.invalid:2375")  # fmt: skip
    ok, message = docker_host_check(actor=actor, host=nowhere)
    assert not ok
    assert message == f"Docker host nowhere ({nowhere.url}) does not answer: its host name does not resolve"
    good.refresh_from_db()
    assert good.last_check_ok is True
    assert good.last_checked_at is not None


def test_the_build_and_ship_example_runs_green(targets, docker_parts):
    _registry(docker_parts)
    text = (Path(settings.BASE_DIR) / "examples" / "build-and-ship.yaml").read_text()
    text = text.replace("project: demo", "project: eng").replace("127.0.0.1:5000", docker_parts.registry_host)
    execution = run(text, inputs={"version": "2.0.1"}, timeout=180)
    assert execution.status == "success", "\n".join(log_text(execution))
    assert "tests passed" in log_text(execution, "test")
    push = execution.steps.get(step_id="push").outputs
    assert push["image"] == f"{docker_parts.registry_host}/ansflow-demo/web:2.0.1"
    assert push["digest"].startswith("sha256:")


def test_a_registry_password_never_shows_in_a_docker_step_whatever_echoes_it(targets, docker_parts, tmp_path):
    """The registries' credentials are not in the pipeline's list; the push steps still mask them everywhere."""
    _registry(docker_parts)
    _registry(docker_parts, password="not-the-Pa55word")
    # Tags that are the passwords: the engine echoes them back in the push progress and errors.
    client = docker.DockerClient(base_url=docker_parts.url)
    try:
        image, _ = client.images.build(
            path=str(busybox_context(tmp_path / "ctx")), tag=f"ansflow-test/masked:{docker_parts.password}", rm=True
        )
        image.tag("ansflow-test/masked", "not-the-Pa55word")
    finally:
        client.close()
    # One after the other: both steps tag the same image, and Podman's store can lose one of two names
    # added to an image at the same moment (the push then finds no such image).
    execution = run(
        pipeline_yaml(
            "docker-masked-registry",
            f"""
            - id: push
              type: docker.push
              with: {{image: "ansflow-test/masked:{docker_parts.password}", registry: local}}
            - id: denied
              type: docker.push
              needs: [push]
              with: {{image: "ansflow-test/masked:not-the-Pa55word", registry: local-wrong}}
            """,
        ),
        timeout=120,
    )
    assert statuses(execution) == {"push": "success", "denied": "failed"}, "\n".join(log_text(execution))
    assert f"pushing {docker_parts.registry_host}/ansflow-test/masked:***" in log_text(execution, "push")
    denied = execution.steps.get(step_id="denied")
    assert denied.error.startswith("push failed: ")
    assert f"pushing {docker_parts.registry_host}/ansflow-test/masked:***" in log_text(execution, "denied")
    for password in (docker_parts.password, "not-the-Pa55word"):
        assert not any(password in line for line in log_text(execution))
        assert password not in denied.error
