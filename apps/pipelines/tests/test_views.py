"""Pipeline pages per role: the list (search, filters, constant queries), a pipeline (versions, diff, YAML,
DAG), YAML import with located errors, the audit log and the credentials list."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.services import audit_record
from apps.accounts.tests import conftest as account_fixtures
from apps.accounts.tests.factories import CredentialFactory, ProjectFactory, UserFactory
from apps.pipelines.models import Pipeline
from apps.pipelines.services import pipeline_import

pytestmark = pytest.mark.django_db

# One project ("shop") and one user per role, shared with the accounts tests.
people = account_fixtures.people
project = account_fixtures.project

DOC = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {{name: {name}, project: shop, description: "Builds {name}"}}
spec:
  inputs:
    version: {{type: string, required: true, pattern: '^v[0-9]+'}}
  steps:
    - {{id: build, type: shell, run: echo build}}
    - {{id: test, type: shell, needs: [build], run: echo {word}}}
    - {{id: ship, type: shell, needs: [build, test], run: echo ship}}
"""


def doc(name: str = "web", word: str = "test") -> str:
    return DOC.format(name=name, word=word)


def make_pipeline(project, name: str = "web", **kwargs) -> Pipeline:
    root = UserFactory(username="importer", is_superuser=True)
    return pipeline_import(actor=root, project=project, yaml_text=doc(name, **kwargs)).pipeline


ALL = ["outsider", "viewer", "operator", "maintainer", "owner", "superuser"]


def test_pages_need_sign_in(client, project):
    pipeline = make_pipeline(project)
    for url in ["/pipelines/", f"/pipelines/{pipeline.pk}/", "/pipelines/import/", "/audit/",
                f"/projects/{project.slug}/credentials/"]:  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", ALL)
def test_pipeline_page_visible_to_members_only(client, people, project, role):
    pipeline = make_pipeline(project)
    client.force_login(people[role])
    response = client.get(f"/pipelines/{pipeline.pk}/")
    if role == "outsider":
        assert response.status_code == 404
        assert b"Nothing here" in response.content  # the styled 404 page
        return
    assert response.status_code == 200
    body = response.content.decode()
    # The DAG: one node per step and one edge per need.
    assert body.count('class="dag-node') == 3
    assert body.count('class="dag-edge"') == 3
    assert 'data-from="build" data-to="ship"' in body
    # The run button only for operators and above; a new version only for maintainers and above.
    assert ('id="run-button"' in body) == (role in ("operator", "maintainer", "owner", "superuser"))
    assert ("New version" in body) == (role in ("maintainer", "owner", "superuser"))


def test_pipeline_list_filters_and_search(client, people, project):
    make_pipeline(project, "web")
    make_pipeline(project, "worker")
    other = ProjectFactory(slug="other")
    make_pipeline(other, "secret-thing")
    Pipeline.objects.filter(name="worker").update(last_status="failed")
    client.force_login(people["viewer"])
    body = client.get("/pipelines/").content.decode()
    assert "web" in body
    assert "worker" in body
    assert "secret-thing" not in body  # another project's pipeline
    assert "Import a pipeline" not in body  # viewers cannot import
    found = client.get("/pipelines/?name=work").content.decode()
    assert ">worker<" in found
    assert ">web<" not in found
    failed = client.get("/pipelines/?last_status=failed").content.decode()
    assert ">worker<" in failed
    assert ">web<" not in failed
    none = client.get("/pipelines/?name=nothing-like-this").content.decode()
    assert "No pipeline matches these filters." in none
    # htmx asks for the table only.
    partial = client.get("/pipelines/?name=web", headers={"HX-Request": "true"}).content.decode()
    assert partial.startswith('<div id="pipeline-table">')
    assert "<html" not in partial


def test_pipeline_list_empty_state(client, people):
    client.force_login(people["maintainer"])
    body = client.get("/pipelines/").content.decode()
    assert "No pipelines yet." in body
    assert "Import one" in body


def _list_queries(client, count_before: int, project) -> int:
    for index in range(count_before):
        make_pipeline(project, f"p{index:03d}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/pipelines/")
    assert response.status_code == 200
    return len(queries)


def test_pipeline_list_query_count_is_constant(client, people, project):
    client.force_login(people["viewer"])
    few = _list_queries(client, 2, project)
    many = _list_queries(client, 30, project)  # more than a page
    assert few == many


def test_versions_diff_and_yaml_view(client, people, project):
    make_pipeline(project, "web", word="one")
    pipeline = make_pipeline(project, "web", word="two")
    assert pipeline.current_version.number == 2
    client.force_login(people["viewer"])
    body = client.get(f"/pipelines/{pipeline.pk}/?a=1&b=2").content.decode()
    assert '<span class="d-del">-    - {id: test, type: shell, needs: [build], run: echo one}</span>' in body
    assert '<span class="d-add">+    - {id: test, type: shell, needs: [build], run: echo two}</span>' in body
    old = client.get(f"/pipelines/{pipeline.pk}/?version=1").content.decode()
    assert "echo one" in old
    assert 'YAML <span class="muted">· v1' in old
    # Unknown version numbers fall back to the current one; junk never errors.
    assert client.get(f"/pipelines/{pipeline.pk}/?version=99&a=x&b=-1").status_code == 200


def test_import_page_per_role(client, people, project):
    for role in ("viewer", "operator"):
        client.force_login(people[role])
        assert client.get("/pipelines/import/").status_code == 403
        response = client.post("/pipelines/import/", {"project": project.slug, "yaml_text": doc()})
        assert response.status_code == 403
    assert not Pipeline.objects.exists()
    client.force_login(people["maintainer"])
    response = client.post("/pipelines/import/", {"project": project.slug, "yaml_text": doc(), "message": "first"})
    pipeline = Pipeline.objects.get(name="web")
    assert response.status_code == 302
    assert response["Location"] == f"/pipelines/{pipeline.pk}/"
    assert pipeline.current_version.message == "first"


def test_import_of_a_foreign_project_is_refused(client, people, project):
    ProjectFactory(slug="other")
    client.force_login(people["maintainer"])
    response = client.post("/pipelines/import/", {"project": "other", "yaml_text": doc()})
    assert response.status_code == 400  # not a choice for this user
    assert not Pipeline.objects.exists()


def test_import_errors_name_lines(client, people, project):
    client.force_login(people["maintainer"])
    broken = doc().replace("needs: [build, test]", "needs: [build, nope]")
    response = client.post("/pipelines/import/", {"project": project.slug, "yaml_text": broken})
    assert response.status_code == 400
    body = response.content.decode()
    assert re.search(r"line 10, column \d+</a>\s*<code>spec\.steps\[2\]\.needs\[1\]</code>", body), body
    assert "nope" in body
    assert '<span class="ln bad" id="l10">10</span>' in body
    assert not Pipeline.objects.exists()


def test_new_version_form_is_prefilled(client, people, project):
    pipeline = make_pipeline(project)
    client.force_login(people["maintainer"])
    body = client.get(f"/pipelines/import/?from={pipeline.pk}").content.decode()
    assert "echo ship" in body
    client.force_login(people["viewer"])
    assert client.get(f"/pipelines/import/?from={pipeline.pk}").status_code == 403


@pytest.mark.parametrize("role", ALL)
def test_audit_log_for_maintainers(client, people, project, role):
    root = people["superuser"]
    audit_record(actor=root, verb="pipeline.create", target=project, project=project)
    other = ProjectFactory(slug="other")
    audit_record(actor=root, verb="pipeline.delete", target=other, project=other)
    client.force_login(people[role])
    response = client.get("/audit/")
    if role in ("outsider", "viewer", "operator"):
        assert response.status_code == 403
        assert b"You may not do this" in response.content
        return
    body = response.content.decode()
    assert "<code>pipeline.create</code>" in body
    assert ("<code>pipeline.delete</code>" in body) == (role == "superuser")


def test_audit_log_filters(client, people, project):
    root = people["superuser"]
    audit_record(actor=root, verb="pipeline.create", target=project, project=project)
    audit_record(actor=people["owner"], verb="execution.start", target=project, project=project)
    client.force_login(people["maintainer"])
    body = client.get("/audit/?verb=execution.").content.decode()
    assert "<code>execution.start</code>" in body
    assert "<code>pipeline.create</code>" not in body
    body = client.get("/audit/?actor=root").content.decode()
    assert "<code>pipeline.create</code>" in body
    assert "<code>execution.start</code>" not in body
    body = client.get("/audit/?since=2000-01-01&until=2000-01-02").content.decode()
    assert "No audit events match." in body
    assert client.get("/audit/?since=not-a-date").status_code == 200


def test_audit_log_query_count_is_constant(client, people, project):
    client.force_login(people["maintainer"])

    def count(extra: int) -> int:
        for _ in range(extra):
            audit_record(actor=people["owner"], verb="pipeline.update", target=project, project=project)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/audit/").status_code == 200
        return len(queries)

    assert count(2) == count(60)


@pytest.mark.parametrize("role", ALL)
def test_credentials_list_for_maintainers(client, people, project, role):
    CredentialFactory(project=project, name="registry")
    client.force_login(people[role])
    response = client.get(f"/projects/{project.slug}/credentials/")
    expected = {"outsider": 404, "viewer": 403, "operator": 403}.get(role, 200)
    assert response.status_code == expected
    if expected == 200:
        body = response.content.decode()
        assert "registry" in body
        assert "password: ***" in body
        assert "s3cret-Passw0rd" not in body


def test_server_error_page_renders_without_a_request():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
    assert "/static/ansflow/pages.css" in html
