"""Triggers in the admin: visible to members, switched and re-keyed only by maintainers, through services."""

from __future__ import annotations

import pytest

from apps.accounts.choices import Role
from apps.accounts.models import AuditEvent
from apps.accounts.tests.factories import ProjectFactory, make_user_with_role
from apps.pipelines.services import pipeline_import
from apps.pipelines.triggers.models import Trigger

pytestmark = pytest.mark.django_db

YAML = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {name: hooked}
spec:
  on:
    webhook: {}
  steps:
    - {id: a, type: shell, run: "true"}
"""


@pytest.fixture
def trigger():
    project = ProjectFactory(slug="hooks")
    root = make_user_with_role(project, Role.OWNER, is_staff=True)
    pipeline_import(actor=root, project=project, yaml_text=YAML)
    return Trigger.objects.get(pipeline__name="hooked", kind="webhook")


def test_members_see_the_webhook_url_and_maintainers_switch_it_off(client, trigger):
    viewer = make_user_with_role(trigger.pipeline.project, Role.VIEWER, is_staff=True)
    client.force_login(viewer)
    page = client.get(f"/admin/pipelines/trigger/{trigger.pk}/change/").content.decode()
    assert f"/hooks/{trigger.public_id}/" in page
    client.post("/admin/pipelines/trigger/", {"action": "disable", "_selected_action": [trigger.pk]})
    trigger.refresh_from_db()
    assert trigger.enabled is True

    maintainer = make_user_with_role(trigger.pipeline.project, Role.MAINTAINER, is_staff=True)
    client.force_login(maintainer)
    client.post("/admin/pipelines/trigger/", {"action": "disable", "_selected_action": [trigger.pk]})
    trigger.refresh_from_db()
    assert trigger.enabled is False
    response = client.post(
        "/admin/pipelines/trigger/", {"action": "rotate_secret", "_selected_action": [trigger.pk]}, follow=True
    )
    assert "shown only now" in response.content.decode()
    verbs = set(AuditEvent.objects.filter(project=trigger.pipeline.project).values_list("verb", flat=True))
    assert {"trigger.disable", "trigger.rotate_secret"} <= verbs
    assert "trigger.enable" not in verbs  # the viewer's attempt changed nothing
    assert client.get("/admin/pipelines/trigger/add/").status_code == 403
