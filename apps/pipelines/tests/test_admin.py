"""Pipeline admin: restricted to the staff member's projects, YAML import with located errors, read-only versions."""

from __future__ import annotations

import re

import pytest

from apps.accounts.tests import conftest as account_fixtures
from apps.accounts.tests.factories import ProjectFactory
from apps.pipelines.models import Pipeline, PipelineVersion

from .test_views import doc, make_pipeline

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


def test_changelist_shows_only_my_projects(client, staff, project):
    mine = make_pipeline(project, "mine")
    theirs = make_pipeline(ProjectFactory(slug="other"), "theirs")
    client.force_login(staff["viewer"])
    body = client.get("/admin/pipelines/pipeline/").content.decode()
    assert f"/admin/pipelines/pipeline/{mine.pk}/change/" in body
    assert f"/admin/pipelines/pipeline/{theirs.pk}/change/" not in body
    assert "Import YAML" not in body  # viewers cannot import
    assert client.get(f"/admin/pipelines/pipeline/{theirs.pk}/change/").status_code == 302  # "does not exist"
    page = client.get(f"/admin/pipelines/pipeline/{mine.pk}/change/")
    assert page.status_code == 200
    assert "echo ship" in page.content.decode()  # the current YAML, read-only
    client.force_login(staff["superuser"])
    body = client.get("/admin/pipelines/pipeline/").content.decode()
    assert f"/admin/pipelines/pipeline/{theirs.pk}/change/" in body


def test_import_yaml_in_the_admin(client, staff, project):
    client.force_login(staff["viewer"])
    assert client.get("/admin/pipelines/pipeline/import/").status_code == 403
    assert client.post("/admin/pipelines/pipeline/import/", {"project": "shop", "yaml_text": doc()}).status_code == 403
    client.force_login(staff["maintainer"])
    assert client.get("/admin/pipelines/pipeline/add/")["Location"] == "/admin/pipelines/pipeline/import/"
    broken = doc().replace("type: shell, needs: [build, test]", "type: shel, needs: [build, test]")
    response = client.post("/admin/pipelines/pipeline/import/", {"project": "shop", "yaml_text": broken})
    assert response.status_code == 400
    assert re.search(r"line 10, column \d+</strong> <code>spec\.steps\[2\]\.type</code>", response.content.decode())
    assert not Pipeline.objects.exists()
    response = client.post("/admin/pipelines/pipeline/import/", {"project": "shop", "yaml_text": doc(),
                                                                 "message": "from the admin"})  # fmt: skip
    pipeline = Pipeline.objects.get()
    assert response["Location"] == f"/admin/pipelines/pipeline/{pipeline.pk}/change/"
    assert pipeline.current_version.message == "from the admin"


def test_import_into_a_foreign_project_is_refused(client, staff):
    ProjectFactory(slug="other")
    client.force_login(staff["maintainer"])
    response = client.post("/admin/pipelines/pipeline/import/", {"project": "other", "yaml_text": doc()})
    assert response.status_code == 200  # the form says "not a valid choice"
    assert "Select a valid choice" in response.content.decode()
    assert not Pipeline.objects.exists()


def test_versions_are_read_only(client, staff, project):
    pipeline = make_pipeline(project)
    version = PipelineVersion.objects.get(pipeline=pipeline)
    client.force_login(staff["owner"])
    page = client.get(f"/admin/pipelines/pipelineversion/{version.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/pipelines/pipelineversion/{version.pk}/change/", {"message": "x"}).status_code == 403
    assert client.post(f"/admin/pipelines/pipelineversion/{version.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PipelineVersion.objects.get(pk=version.pk).message == ""


def test_delete_goes_through_the_service(client, staff, project):
    pipeline = make_pipeline(project)
    client.force_login(staff["operator"])
    assert client.post(f"/admin/pipelines/pipeline/{pipeline.pk}/delete/", {"post": "yes"}).status_code == 403
    client.force_login(staff["maintainer"])
    response = client.post(f"/admin/pipelines/pipeline/{pipeline.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Pipeline.objects.exists()
    from apps.accounts.models import AuditEvent

    assert AuditEvent.objects.filter(verb="pipeline.delete", actor_user=staff["maintainer"]).exists()
