"""Run-level services on a real worker: concurrency groups, approvals, re-runs, secrets and HTTP steps."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import PermissionDenied

from ansflow.testing import wait_until
from apps.accounts.choices import Role
from apps.accounts.models import AuditEvent
from apps.accounts.services import credential_create
from apps.accounts.tests.factories import make_user_with_role
from apps.executions.choices import ExecutionStatus, StepStatus
from apps.executions.models import Execution, LogLine, StepExecution
from apps.executions.services import (
    RunError,
    approval_decide,
    execution_cancel,
    execution_retry_failed,
    execution_start,
)
from apps.pipelines.spec import InputError

from .helpers import log_text, pipeline_yaml, project, run, start, statuses, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


def status_of(execution: Execution) -> str:
    return Execution.objects.values_list("status", flat=True).get(pk=execution.pk)


GATED = """
- id: gate
  type: approval
  with: {approvers: {roles: [maintainer]}, min_approvals: 1}
- {id: after, type: shell, needs: [gate], run: echo approved}
"""


def test_concurrency_limit_queues_runs_until_a_slot_frees():
    yaml_text = pipeline_yaml("serial", GATED, extra="concurrency: {group: deploy, limit: 1}\n")
    first = start(yaml_text)
    second = start(yaml_text)
    wait_until(lambda: StepExecution.objects.filter(execution=first, status=StepStatus.WAITING).exists())
    assert status_of(second) == ExecutionStatus.QUEUED
    assert not StepExecution.objects.filter(execution=second).exclude(status=StepStatus.PENDING).exists()
    approval_decide(actor=superuser(), step=first.steps.get(step_id="gate"), decision="approve")
    assert wait_done(first).status == "success"
    wait_until(lambda: StepExecution.objects.filter(execution=second, status=StepStatus.WAITING).exists())
    execution_cancel(actor=superuser(), execution=second)
    assert wait_done(second).status == "canceled"


def test_cancel_in_progress_cancels_the_older_run():
    yaml_text = pipeline_yaml("latest-wins", GATED, extra="concurrency: {group: web, cancel_in_progress: true}\n")
    older = start(yaml_text)
    newer = start(yaml_text)
    assert wait_done(older).status == "canceled"
    assert "canceled in progress by #2" in Execution.objects.get(pk=older.pk).error
    wait_until(lambda: StepExecution.objects.filter(execution=newer, status=StepStatus.WAITING).exists())
    execution_cancel(actor=superuser(), execution=newer)


def test_approval_needs_the_right_role_and_a_rejection_fails_the_gate():
    proj = project("gates")
    operator = make_user_with_role(proj, Role.OPERATOR)
    maintainer = make_user_with_role(proj, Role.MAINTAINER)
    viewer = make_user_with_role(proj, Role.VIEWER)
    execution = start(pipeline_yaml("gated", GATED, project_slug="gates"), project_slug="gates")
    gate = wait_until(lambda: StepExecution.objects.filter(execution=execution, status=StepStatus.WAITING).first())
    with pytest.raises(PermissionDenied):
        approval_decide(actor=viewer, step=gate, decision="approve")
    with pytest.raises(PermissionDenied):
        approval_decide(actor=operator, step=gate, decision="approve")
    approval_decide(actor=maintainer, step=gate, decision="reject", comment="not today")
    done = wait_done(execution)
    assert statuses(done) == {"gate": StepStatus.FAILED, "after": StepStatus.SKIPPED}
    assert AuditEvent.objects.filter(verb="approval.reject").count() == 1
    with pytest.raises(RunError):
        approval_decide(actor=maintainer, step=gate, decision="approve")


def test_approval_timeout_skips_when_asked(settings):
    execution = start(
        pipeline_yaml(
            "expiring",
            """
            - {id: gate, type: approval, with: {approvers: {roles: [operator]}, timeout: 1s, on_timeout: skip}}
            - {id: after, type: shell, needs: [gate], when: always, run: "true"}
            """,
        )
    )
    from apps.executions.engine.reaper import reap

    wait_until(lambda: reap()["approvals_expired"], timeout=20, interval=0.2)
    assert statuses(wait_done(execution)) == {"gate": StepStatus.SKIPPED, "after": StepStatus.SUCCESS}


def test_retry_failed_reuses_successful_steps_and_their_outputs(tmp_path):
    flag = tmp_path / "fixed"
    yaml_text = pipeline_yaml(
        "retry-failed",
        f"""
        - id: build
          type: shell
          run: echo "n=$RANDOM" >> "$ANSFLOW_OUTPUT"
          outputs: [n]
        - id: test
          type: shell
          needs: [build]
          env: {{N: "{{{{ steps.build.outputs.n }}}}"}}
          run: test -e {flag} && echo "tested $N"
        """,
    )
    first = run(yaml_text)
    assert statuses(first) == {"build": StepStatus.SUCCESS, "test": StepStatus.FAILED}
    flag.touch()
    second = wait_done(execution_retry_failed(actor=superuser(), execution=first))
    assert second.status == "success"
    built = first.steps.get(step_id="build")
    reused = second.steps.get(step_id="build")
    assert reused.reused_from_id == built.pk
    assert reused.outputs == built.outputs
    assert log_text(second, "test") == [f"tested {built.outputs['n']}"]
    assert not LogLine.objects.filter(execution=second, step__step_id="build").exists()


def test_invalid_inputs_are_refused_before_anything_is_written():
    yaml_text = pipeline_yaml(
        "typed", "- {id: a, type: shell, run: 'true'}", extra="inputs: {n: {type: integer, minimum: 1}}\n"
    )
    before = Execution.objects.count()
    with pytest.raises(InputError) as refused:
        start(yaml_text, inputs={"n": "zero"})
    assert "n" in refused.value.errors
    assert Execution.objects.count() == before


def test_secrets_reach_the_step_and_are_masked_in_its_log():
    proj = project("secrets")
    secret = "s3cr3t-Value-9981"
    credential_create(
        actor=superuser(), project=proj, name="registry", kind="username_password",
        fields={"username": "deploy", "password": secret},
    )  # fmt: skip
    execution = run_in(
        proj,
        pipeline_yaml(
            "uses-secret",
            """
            - id: use
              type: shell
              env: {PASS: {secret: registry.password}, USER_NAME: {secret: registry.username}}
              run: |
                echo "user $USER_NAME pass $PASS"
                echo -n "$PASS" | base64
                test "$PASS" = "s3cr3t-Value-9981"
            """,
            extra="credentials: [registry]\n",
            project_slug="secrets",
        ),
    )
    assert execution.status == "success"
    text = "\n".join(log_text(execution))
    assert secret not in text
    assert "user deploy pass ***" in text
    assert AuditEvent.objects.filter(verb="credential.use").count() == 1


def run_in(proj, yaml_text):
    from apps.pipelines.services import pipeline_import

    imported = pipeline_import(actor=superuser(), project=proj, yaml_text=yaml_text)
    return wait_done(execution_start(actor=superuser(), pipeline=imported.pipeline))


class _Api(BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/ok" else 503
        body = json.dumps({"data": {"items": [{"id": "abc"}]}, "path": self.path}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_step_checks_the_status_and_reads_outputs(http_server):
    execution = run(
        pipeline_yaml(
            "http",
            f"""
            - id: ok
              type: http
              with: {{url: "{http_server}/ok", outputs: {{first: "data.items[0].id"}}}}
              outputs: [first]
            - id: down
              type: http
              with: {{url: "{http_server}/down", expect_status: 200}}
              on_failure: continue
            """,
        )
    )
    assert execution.status == "success"
    assert execution.steps.get(step_id="ok").outputs == {"first": "abc"}
    down = execution.steps.get(step_id="down")
    assert down.status == StepStatus.FAILED
    assert "HTTP 503, expected 200" in down.error
