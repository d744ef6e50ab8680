"""The REST contract of DESIGN.md §5 with token auth: import, run, follow, logs, cancel, approve."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ansflow.testing import wait_until
from apps.accounts.choices import Role
from apps.accounts.services import token_create
from apps.accounts.tests.factories import make_user_with_role
from apps.executions.models import Execution

from .helpers import pipeline_yaml, project, run, start, wait_done

pytestmark = pytest.mark.django_db(transaction=True)

YAML = pipeline_yaml(
    "api-demo",
    """
    - id: greet
      type: shell
      run: |
        for i in 1 2 3 4 5; do echo "hello $INPUT_WHO $i"; done
        echo "needle in the log"
    - id: gate
      type: approval
      needs: [greet]
      with: {approvers: {roles: [operator]}}
    """,
    extra="inputs: {who: {type: string, required: true}}\n",
    project_slug="api",
)


@pytest.fixture
def people():
    proj = project("api")
    users = {role: make_user_with_role(proj, role) for role in (Role.VIEWER, Role.OPERATOR, Role.MAINTAINER)}
    users["outsider"] = make_user_with_role(project("other-api"), Role.OWNER)
    return {name: token_create(actor=user, user=user, name="t")[1] for name, user in users.items()}


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def import_yaml(client, key, text=YAML):
    return client.post("/api/v1/pipelines/import/", data=text, content_type="application/x-yaml", **auth(key))


def test_import_creates_then_versions_only_on_change(client, people):
    created = import_yaml(client, people[Role.MAINTAINER])
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["version"] == 1
    assert body["project"] == "api"
    assert body["user_capabilities"]["run"] is True
    again = import_yaml(client, people[Role.MAINTAINER])
    assert again.status_code == 200
    assert again.json()["changed"] is False
    changed = import_yaml(client, people[Role.MAINTAINER], YAML.replace("hello", "hi"))
    assert changed.json()["version"] == 2
    versions = client.get(f"/api/v1/pipelines/{body['id']}/versions/", **auth(people[Role.VIEWER])).json()
    assert [v["number"] for v in versions["results"]] == [2, 1]
    exported = client.get(f"/api/v1/pipelines/{body['id']}/export/?version=1", **auth(people[Role.VIEWER]))
    assert exported.content.decode() == YAML


def test_import_refuses_viewers_outsiders_and_invalid_documents(client, people):
    assert import_yaml(client, people[Role.VIEWER]).status_code == 403
    outsider = import_yaml(client, people["outsider"])
    assert outsider.status_code == 400
    assert "project" in outsider.json()["errors"]
    invalid = import_yaml(client, people[Role.MAINTAINER], YAML.replace("needs: [greet]", "needs: [gret]"))
    assert invalid.status_code == 400
    (error,) = invalid.json()["errors"]
    assert error["path"] == "spec.steps[1].needs[0]"
    assert (error["line"], error["column"]) == (15, 15)
    assert "gret" in error["message"]
    garbage = client.post(
        "/api/v1/pipelines/import/?project=api", data="a: [", content_type="text/plain", **auth(people[Role.MAINTAINER])
    )
    assert garbage.status_code == 400
    assert garbage.json()["errors"][0]["line"] == 1


def test_validate_only_writes_nothing(client, people):
    response = client.post(
        "/api/v1/pipelines/validate/", data=YAML, content_type="application/x-yaml", **auth(people[Role.VIEWER])
    )
    assert response.status_code == 200
    assert response.json()["valid"] is True
    assert not client.get("/api/v1/pipelines/", **auth(people[Role.VIEWER])).json()["results"]


def test_run_follow_logs_approve_and_finish(client, people, celery_worker):
    pipeline_id = import_yaml(client, people[Role.MAINTAINER]).json()["id"]
    assert client.post(
        f"/api/v1/pipelines/{pipeline_id}/run/", {"inputs": {"who": "x"}}, content_type="application/json",
        **auth(people[Role.VIEWER]),
    ).status_code == 403  # fmt: skip
    bad = client.post(
        f"/api/v1/pipelines/{pipeline_id}/run/", {"inputs": {}}, content_type="application/json",
        **auth(people[Role.OPERATOR]),
    )  # fmt: skip
    assert bad.status_code == 400
    assert "who" in bad.json()["errors"]["inputs"]
    assert bad.json()["detail"].startswith("inputs.who:")
    started = client.post(
        f"/api/v1/pipelines/{pipeline_id}/run/", {"inputs": {"who": "Ada"}}, content_type="application/json",
        **auth(people[Role.OPERATOR]),
    )  # fmt: skip
    assert started.status_code == 201, started.content
    execution_id = started.json()["id"]
    assert started.json()["status"] in ("queued", "running")

    def gate():
        body = client.get(f"/api/v1/executions/{execution_id}/", **auth(people[Role.VIEWER])).json()
        return next((s for s in body["steps"] if s["step_id"] == "gate" and s["status"] == "waiting"), None)

    step = wait_until(gate)
    first = client.get(f"/api/v1/executions/{execution_id}/logs/?after=0&limit=2", **auth(people[Role.VIEWER])).json()
    assert [line["text"] for line in first["lines"]] == ["hello Ada 1", "hello Ada 2"]
    assert first["has_more"] is True
    rest = client.get(
        f"/api/v1/executions/{execution_id}/logs/?after={first['next_after']}", **auth(people[Role.VIEWER])
    ).json()
    assert [line["seq"] for line in rest["lines"]] == [3, 4, 5, 6]
    found = client.get(f"/api/v1/executions/{execution_id}/search/?q=NEEDLE", **auth(people[Role.VIEWER])).json()
    assert [m["seq"] for m in found["matches"]] == [6]
    text = b"".join(
        client.get(
            f"/api/v1/executions/{execution_id}/logs.txt?step=greet", **auth(people[Role.VIEWER])
        ).streaming_content
    ).decode()
    assert text.splitlines()[-1] == "needle in the log"

    assert client.post(f"/api/v1/steps/{step['id']}/approve/", {}, **auth(people[Role.VIEWER])).status_code == 403
    approved = client.post(
        f"/api/v1/steps/{step['id']}/approve/", {"decision": "approve", "comment": "ok"}, **auth(people[Role.OPERATOR])
    )
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "success"
    wait_until(lambda: Execution.objects.get(pk=execution_id).status == "success")


def test_cancel_needs_an_operator_and_a_read_only_token_cannot_write(client, people, celery_worker):
    pipeline_id = import_yaml(client, people[Role.MAINTAINER]).json()["id"]
    execution_id = client.post(
        f"/api/v1/pipelines/{pipeline_id}/run/", {"inputs": {"who": "x"}}, content_type="application/json",
        **auth(people[Role.OPERATOR]),
    ).json()["id"]  # fmt: skip
    assert client.post(f"/api/v1/executions/{execution_id}/cancel/", **auth(people[Role.VIEWER])).status_code == 403
    operator = Execution.objects.get(pk=execution_id).actor
    _token, read_only = token_create(actor=operator, user=operator, name="ro", read_only=True)
    assert client.post(f"/api/v1/executions/{execution_id}/cancel/", **auth(read_only)).status_code == 403
    assert client.get(f"/api/v1/executions/{execution_id}/", **auth(read_only)).status_code == 200
    canceled = client.post(f"/api/v1/executions/{execution_id}/cancel/", **auth(people[Role.OPERATOR]))
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert client.get(f"/api/v1/executions/{execution_id}/", **auth(people["outsider"])).status_code == 404


def test_pipeline_json_schema_is_served(client):
    schema = client.get("/api/v1/schema/pipeline.json").json()
    assert schema["properties"]["apiVersion"]["const"] == "ansflow/v1"


def test_list_endpoints_use_a_constant_number_of_queries(client, people, celery_worker):
    import_yaml(client, people[Role.MAINTAINER], YAML.replace("api-demo", "q"))

    def count(path: str) -> int:
        client.get(path, **auth(people[Role.VIEWER]))  # warm: the token's last-used time is written once
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path, **auth(people[Role.VIEWER])).status_code == 200
        return len(ctx.captured_queries)

    quiet = pipeline_yaml("quiet", "- {id: a, type: shell, run: 'true'}", project_slug="api")
    run(quiet)
    few = {path: count(path) for path in ("/api/v1/executions/", "/api/v1/pipelines/", "/api/v1/steps/")}
    for _ in range(4):
        run(quiet)
    many = {path: count(path) for path in few}
    assert many == few


def test_lists_filter_order_and_search(client, people, celery_worker):
    for name in ("alpha", "beta"):
        import_yaml(client, people[Role.MAINTAINER], YAML.replace("api-demo", name))
    key = people[Role.VIEWER]
    names = [p["name"] for p in client.get("/api/v1/pipelines/?ordering=-name", **auth(key)).json()["results"]]
    assert names == ["beta", "alpha"]
    found = client.get("/api/v1/pipelines/?search=alp", **auth(key)).json()["results"]
    assert [p["name"] for p in found] == ["alpha"]
    quiet = pipeline_yaml("quiet-order", "- {id: a, type: shell, run: 'true'}", project_slug="api")
    first = wait_done(start(quiet, project_slug="api"))
    second = wait_done(start(quiet, project_slug="api"))
    ids = [e["id"] for e in client.get("/api/v1/executions/?ordering=id&project=api", **auth(key)).json()["results"]]
    assert ids == [first.pk, second.pk]
    bad = client.get("/api/v1/executions/?pipeline=abc", **auth(key))
    assert bad.status_code == 400
    assert "pipeline" in bad.json()["errors"]
