"""Execution pages per role: dashboard, project, run form, execution page and its actions, approvals inbox.

No worker runs here: an approval gate as the first step waits at once, and queued shell steps stay queued
(Celery sends happen on commit, which these transactional tests never reach).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.tests import conftest as account_fixtures
from apps.accounts.tests.factories import ProjectFactory, UserFactory
from apps.executions.choices import ExecutionStatus, StepStatus
from apps.executions.models import Approval, Execution
from apps.executions.services import execution_start
from apps.pipelines.services import pipeline_import

pytestmark = pytest.mark.django_db

# One project ("shop") and one user per role, shared with the accounts tests.
people = account_fixtures.people
project = account_fixtures.project

ALL = ["outsider", "viewer", "operator", "maintainer", "owner", "superuser"]
OPERATORS = ("operator", "maintainer", "owner", "superuser")

GATED = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {{name: {name}, project: shop}}
spec:
  inputs:
    version: {{type: string, required: true, pattern: '^v[0-9]+'}}
    replicas: {{type: integer, default: 2, minimum: 1, maximum: 5}}
    dry: {{type: boolean, default: false}}
    env: {{type: choice, enum: [staging, prod], default: staging}}
  steps:
    - id: gate
      type: approval
      with: {{approvers: {{roles: [{approver_role}]}}}}
    - {{id: deploy, type: shell, needs: [gate], run: 'printf "\\033[32mok\\033[0m %s\\n" "$INPUT_VERSION"'}}
"""


def gated_pipeline(project, name: str = "deploy", approver_role: str = "operator"):
    root = UserFactory(username="importer", is_superuser=True)
    text = GATED.format(name=name, approver_role=approver_role)
    return pipeline_import(actor=root, project=project, yaml_text=text).pipeline


def start(pipeline, version: str = "v1") -> Execution:
    root = UserFactory(username="importer", is_superuser=True)
    return execution_start(actor=root, pipeline=pipeline, inputs={"version": version})


def finish(execution: Execution, status: str, seconds: float = 30.0, days_ago: int = 0) -> None:
    end = timezone.now() - timedelta(days=days_ago)
    Execution.objects.filter(pk=execution.pk).update(
        status=status, started_at=end - timedelta(seconds=seconds), finished_at=end
    )
    execution.steps.update(status=StepStatus.SUCCESS if status == "success" else StepStatus.FAILED)


def test_pages_need_sign_in(client, project):
    execution = start(gated_pipeline(project))
    step = execution.steps.get(step_id="gate")
    urls = ["/", "/approvals/", f"/projects/{project.slug}/", f"/executions/{execution.pk}/",
            f"/pipelines/{execution.pipeline_id}/run/", f"/pipelines/{execution.pipeline_id}/runs/",
            "/dashboard/trends/?days=30"]  # fmt: skip
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    for url in [f"/executions/{execution.pk}/cancel/", f"/steps/{step.pk}/decide/"]:
        assert client.post(url, {"decision": "approve"}).status_code == 302
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.RUNNING


@pytest.mark.parametrize("role", ALL)
def test_execution_page_and_buttons_per_role(client, people, project, role):
    execution = start(gated_pipeline(project))
    client.force_login(people[role])
    response = client.get(f"/executions/{execution.pk}/")
    if role == "outsider":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-ws-path="/ws/executions/{execution.pk}/"' in body
    assert 'class="dag-node s-waiting" data-step="gate"' in body
    assert 'class="dag-node s-pending" data-step="deploy"' in body
    allowed = role in OPERATORS
    assert ('id="cancel-button"' in body) == allowed
    assert ('data-approve="gate"' in body) == allowed
    assert 'id="rerun-button"' not in body  # still running
    summary = client.get(f"/executions/{execution.pk}/summary/").content.decode()
    assert ('id="cancel-button"' in summary) == allowed
    assert "<html" not in summary


def test_gate_approver_rules_hide_the_button(client, people, project):
    execution = start(gated_pipeline(project, approver_role="owner"))
    step = execution.steps.get(step_id="gate")
    client.force_login(people["maintainer"])
    body = client.get(f"/executions/{execution.pk}/").content.decode()
    assert 'data-approve="gate"' not in body
    assert "waiting for approval" in body
    assert client.get("/approvals/").content.decode().count("data-approve=") == 0
    # The service refuses a maintainer who posts anyway: a 403 page, nothing recorded.
    response = client.post(f"/steps/{step.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    assert not Approval.objects.exists()
    client.force_login(people["owner"])
    assert 'data-approve="gate"' in client.get(f"/executions/{execution.pk}/").content.decode()
    assert 'data-approve="gate"' in client.get("/approvals/").content.decode()


@pytest.mark.parametrize("role", ALL)
def test_cancel_per_role(client, people, project, role):
    execution = start(gated_pipeline(project))
    client.force_login(people[role])
    response = client.post(f"/executions/{execution.pk}/cancel/")
    expected = {"outsider": 404, "viewer": 403}.get(role, 302)
    assert response.status_code == expected
    status = Execution.objects.get(pk=execution.pk).status
    assert status == (ExecutionStatus.CANCELED if expected == 302 else ExecutionStatus.RUNNING)
    assert client.get(f"/executions/{execution.pk}/cancel/").status_code in (405, 404)


def test_approve_from_the_inbox(client, people, project):
    execution = start(gated_pipeline(project))
    step = execution.steps.get(step_id="gate")
    client.force_login(people["viewer"])
    assert client.post(f"/steps/{step.pk}/decide/", {"decision": "approve"}).status_code == 403
    client.force_login(people["operator"])
    inbox = client.get("/approvals/").content.decode()
    assert f"/steps/{step.pk}/decide/" in inbox
    assert client.post(f"/steps/{step.pk}/decide/", {"decision": "maybe"}).status_code == 400
    response = client.post(f"/steps/{step.pk}/decide/", {"decision": "approve", "comment": "lgtm", "next": "approvals"})
    assert response.status_code == 302
    assert response["Location"] == "/approvals/"
    step.refresh_from_db()
    assert step.status == StepStatus.SUCCESS
    assert Approval.objects.get(step=step).comment == "lgtm"
    assert "Nothing is waiting for your approval." in client.get("/approvals/").content.decode()
    # Deciding twice is a clear message, not an error page.
    again = client.post(f"/steps/{step.pk}/decide/", {"decision": "approve"}, follow=True)
    assert again.status_code == 200
    assert "not waiting for approval" in again.content.decode()


def test_rerun_and_retry_failed(client, people, project):
    execution = start(gated_pipeline(project))
    finish(execution, "failed")
    client.force_login(people["viewer"])
    body = client.get(f"/executions/{execution.pk}/").content.decode()
    assert 'id="rerun-button"' not in body
    assert 'id="retry-failed-button"' not in body
    assert client.post(f"/executions/{execution.pk}/rerun/").status_code == 403
    client.force_login(people["operator"])
    body = client.get(f"/executions/{execution.pk}/").content.decode()
    assert 'id="rerun-button"' in body
    assert 'id="retry-failed-button"' in body
    response = client.post(f"/executions/{execution.pk}/retry-failed/")
    new = Execution.objects.latest("pk")
    assert response["Location"] == f"/executions/{new.pk}/"
    assert (new.rerun_of_id, new.trigger) == (execution.pk, "retry-failed")
    response = client.post(f"/executions/{execution.pk}/rerun/")
    assert Execution.objects.latest("pk").trigger == "rerun"
    # Retry-failed of a run still in progress: a message, no new run.
    count = Execution.objects.count()
    page = client.post(f"/executions/{new.pk}/retry-failed/", follow=True)
    assert page.status_code == 200
    assert "only failed or canceled" in page.content.decode()
    assert Execution.objects.count() == count


def test_run_form_generated_from_inputs(client, people, project):
    pipeline = gated_pipeline(project)
    client.force_login(people["viewer"])
    assert client.get(f"/pipelines/{pipeline.pk}/run/").status_code == 403
    client.force_login(people["operator"])
    body = client.get(f"/pipelines/{pipeline.pk}/run/").content.decode()
    assert 'name="version"' in body
    assert "pattern ^v[0-9]+" in body
    assert 'name="replicas"' in body
    assert 'min="1"' in body
    assert 'max="5"' in body
    assert 'value="2"' in body
    assert '<option value="prod">prod</option>' in body
    # Per-field messages come from validate_inputs.
    response = client.post(f"/pipelines/{pipeline.pk}/run/", {"version": "1.0", "replicas": "9", "dry": ""})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "does not match the pattern" in errors["version"][0]
    assert errors["replicas"] == ["must be at most 5"]
    assert 'id="error-version"' in response.content.decode()
    response = client.post(f"/pipelines/{pipeline.pk}/run/", {"replicas": "2"})
    assert response.context["form"].errors["version"] == ["required"]
    assert not Execution.objects.exists()
    response = client.post(f"/pipelines/{pipeline.pk}/run/", {"version": "v7", "replicas": "3", "dry": "true",
                                                              "env": "prod"})  # fmt: skip
    execution = Execution.objects.get()
    assert response["Location"] == f"/executions/{execution.pk}/"
    assert execution.inputs == {"version": "v7", "replicas": 3, "dry": True, "env": "prod"}


def test_run_form_of_another_project_is_404(client, people):
    other = ProjectFactory(slug="other")
    pipeline = gated_pipeline(other)
    client.force_login(people["owner"])
    assert client.get(f"/pipelines/{pipeline.pk}/run/").status_code == 404
    assert client.post(f"/pipelines/{pipeline.pk}/run/", {"version": "v1"}).status_code == 404


@pytest.mark.parametrize("role", ALL)
def test_project_page_per_role(client, people, project, role):
    start(gated_pipeline(project))
    client.force_login(people[role])
    response = client.get(f"/projects/{project.slug}/")
    if role == "outsider":
        assert response.status_code == 404
        return
    body = response.content.decode()
    assert "deploy" in body
    assert "#1" in body
    assert ("Import a pipeline" in body) == (role in ("maintainer", "owner", "superuser"))


def test_dashboard_sections_and_empty_states(client, people, project):
    client.force_login(people["operator"])
    body = client.get("/").content.decode()
    assert "Nothing is running." in body
    assert "No failed runs in the last 7 days." in body
    assert "Nothing is waiting for you." in body
    assert 'id="chart-success"' in body
    assert "no finished runs" in body
    pipeline = gated_pipeline(project)
    running = start(pipeline)
    failed = start(pipeline, "v2")
    finish(failed, "failed", seconds=40)
    ok = start(pipeline, "v3")
    finish(ok, "success", seconds=20, days_ago=3)
    body = client.get("/").content.decode()
    assert f'href="/executions/{running.pk}/"' in body  # running now, and its gate waits for me
    assert f'href="/executions/{failed.pk}/"' in body  # recent failure
    assert "50% of 2 runs succeeded" in body
    assert "mean 30s" in body
    assert body.count('class="bar"') == 2  # two days with finished runs in the 7-day chart
    thirty = client.get("/dashboard/trends/?days=30").content.decode()
    assert thirty.count('<rect class="bar') == 30
    assert "<html" not in thirty
    # An outsider sees none of it.
    client.force_login(people["outsider"])
    body = client.get("/").content.decode()
    assert f'href="/executions/{running.pk}/"' not in body
    assert "no finished runs" in body


def _page_queries(client, url: str, make) -> int:
    make()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_pages_have_constant_query_counts(client, people, project):
    pipeline = gated_pipeline(project)
    client.force_login(people["operator"])

    def runs(count: int):
        def make():
            for index in range(count):
                execution = start(pipeline, f"v{index}")
                if index % 2:
                    finish(execution, "failed", days_ago=index % 5)

        return make

    for url in ["/", f"/projects/{project.slug}/", f"/pipelines/{pipeline.pk}/runs/", "/approvals/"]:
        Execution.objects.all().delete()
        few = _page_queries(client, url, runs(2))
        many = _page_queries(client, url, runs(30))
        assert few == many, url


def test_execution_page_query_count_does_not_grow_with_steps(client, people, project):
    client.force_login(people["viewer"])

    def page_queries(steps: int) -> int:
        body = "\n".join(f"    - {{id: s{i}, type: approval}}" for i in range(steps))
        text = f"apiVersion: ansflow/v1\nkind: Pipeline\nmetadata: {{name: wide{steps}}}\nspec:\n  steps:\n{body}\n"
        pipeline = pipeline_import(actor=people["superuser"], project=project, yaml_text=text).pipeline
        execution = execution_start(actor=people["superuser"], pipeline=pipeline)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/executions/{execution.pk}/").status_code == 200
        return len(queries)

    assert page_queries(2) == page_queries(25)
