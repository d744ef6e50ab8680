"""Execution admin: read-only runs, steps, logs and approvals linked to each other, restricted per project;
the run / cancel / retry / approve actions call the services."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.tests import conftest as account_fixtures
from apps.accounts.tests.factories import ProjectFactory
from apps.executions.choices import ExecutionStatus, LogStream, StepStatus
from apps.executions.models import Approval, Execution, LogLine

from .test_views import finish, gated_pipeline, start

pytestmark = pytest.mark.django_db

people = account_fixtures.people
project = account_fixtures.project


@pytest.fixture
def staff(people):
    for user in people.values():
        if getattr(user, "pk", None):
            user.is_staff = True
            user.save(update_fields=["is_staff"])
    return people


def add_lines(execution: Execution, count: int) -> None:
    step = execution.steps.get(step_id="gate")
    LogLine.objects.bulk_create(
        LogLine(execution=execution, step=step, seq=n, stream=LogStream.STDOUT, time=timezone.now(), text=f"line {n}")
        for n in range(1, count + 1)
    )


def action(client, model: str, name: str, pks: list[int]):
    return client.post(f"/admin/executions/{model}/", {"action": name, "_selected_action": pks}, follow=True)


def test_runs_are_read_only_and_linked(client, staff, project):
    execution = start(gated_pipeline(project))
    add_lines(execution, 3)
    step = execution.steps.get(step_id="gate")
    client.force_login(staff["owner"])
    body = client.get(f"/admin/executions/execution/{execution.pk}/change/").content.decode()
    assert f"/admin/executions/stepexecution/{step.pk}/change/" in body
    assert f"/admin/executions/logline/?execution__id__exact={execution.pk}" in body
    assert f"/admin/pipelines/pipeline/{execution.pipeline_id}/change/" in body
    assert f'href="/executions/{execution.pk}/"' in body
    assert 'name="_save"' not in body
    logs = client.get(f"/admin/executions/logline/?execution__id__exact={execution.pk}")
    assert logs.status_code == 200
    assert "line 3" in logs.content.decode()
    step_page = client.get(f"/admin/executions/stepexecution/{step.pk}/change/").content.decode()
    assert f"/admin/executions/execution/{execution.pk}/change/" in step_page
    assert f"/admin/executions/logline/?step__id__exact={step.pk}" in step_page
    line = LogLine.objects.first()
    urls = [
        f"/admin/executions/execution/{execution.pk}/change/",
        "/admin/executions/execution/add/",
        f"/admin/executions/execution/{execution.pk}/delete/",
        f"/admin/executions/logline/{line.pk}/delete/",
    ]
    for url in urls:
        assert client.post(url, {"post": "yes", "status": "success"}).status_code == 403, url
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.RUNNING


def test_other_projects_are_invisible(client, staff, project):
    mine = start(gated_pipeline(project))
    theirs = start(gated_pipeline(ProjectFactory(slug="other"), name="elsewhere"))
    client.force_login(staff["viewer"])
    body = client.get("/admin/executions/execution/").content.decode()
    assert f"/admin/executions/execution/{mine.pk}/change/" in body
    assert f"/admin/executions/execution/{theirs.pk}/change/" not in body
    assert client.get(f"/admin/executions/execution/{theirs.pk}/change/").status_code == 302
    client.force_login(staff["outsider"])
    assert (
        f"/admin/executions/execution/{mine.pk}/change/"
        not in client.get("/admin/executions/execution/").content.decode()
    )


def test_cancel_action_per_role(client, staff, project):
    execution = start(gated_pipeline(project))
    client.force_login(staff["viewer"])
    page = action(client, "execution", "cancel", [execution.pk])
    assert "Not allowed for 1 selected object(s)." in page.content.decode()
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.RUNNING
    client.force_login(staff["operator"])
    page = action(client, "execution", "cancel", [execution.pk])
    assert "Canceled: 1." in page.content.decode()
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.CANCELED


def test_retry_actions(client, staff, project):
    execution = start(gated_pipeline(project))
    finish(execution, "failed")
    client.force_login(staff["operator"])
    assert "Re-running failed steps: 1." in action(client, "execution", "retry_failed", [execution.pk]).content.decode()
    assert "Started again: 1." in action(client, "execution", "rerun", [execution.pk]).content.decode()
    assert sorted(Execution.objects.exclude(pk=execution.pk).values_list("trigger", flat=True)) == [
        "rerun",
        "retry-failed",
    ]
    running = Execution.objects.filter(trigger="rerun").get()
    page = action(client, "execution", "retry_failed", [running.pk]).content.decode()
    assert "only failed or canceled executions" in page


def test_approve_action_follows_the_gate_rules(client, staff, project):
    execution = start(gated_pipeline(project, approver_role="owner"))
    step = execution.steps.get(step_id="gate")
    client.force_login(staff["maintainer"])
    page = action(client, "stepexecution", "approve", [step.pk]).content.decode()
    assert "not one of this gate" in page
    assert not Approval.objects.exists()
    client.force_login(staff["owner"])
    assert "Approved: 1." in action(client, "stepexecution", "approve", [step.pk]).content.decode()
    step.refresh_from_db()
    assert step.status == StepStatus.SUCCESS


def test_run_action_on_pipelines(client, staff, project):
    pipeline = gated_pipeline(project)
    client.force_login(staff["viewer"])
    page = client.post("/admin/pipelines/pipeline/", {"action": "run", "_selected_action": [pipeline.pk]}, follow=True)
    assert "Not allowed for 1 selected object(s)." in page.content.decode()
    client.force_login(staff["operator"])
    page = client.post("/admin/pipelines/pipeline/", {"action": "run", "_selected_action": [pipeline.pk]}, follow=True)
    assert "version: required" in page.content.decode()  # the required input has no default
    assert not Execution.objects.exists()


def test_changelists_have_constant_query_counts(client, staff, project):
    pipeline = gated_pipeline(project)
    client.force_login(staff["operator"])

    def queries(url: str, runs: int) -> int:
        for index in range(runs):
            add_lines(start(pipeline, f"v{index}"), 2)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    for url in ["/admin/executions/execution/", "/admin/executions/stepexecution/", "/admin/executions/logline/",
                "/admin/pipelines/pipeline/"]:  # fmt: skip
        assert queries(url, 2) == queries(url, 20), url
