"""The triggers API and page: maintainers add, change, switch and remove triggers through the services (audited),
viewers read; webhook secrets are write-only; bad input is a 400 naming each field, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django_celery_beat.models import PeriodicTask

from apps.accounts.choices import Role
from apps.accounts.models import AuditEvent
from apps.accounts.services import token_create
from apps.accounts.tests.factories import ProjectFactory, UserFactory, make_user_with_role
from apps.pipelines.services import pipeline_import
from apps.pipelines.triggers.models import Trigger
from apps.pipelines.triggers.services import trigger_record, trigger_webhook_secret

pytestmark = pytest.mark.django_db

YAML = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {{name: {name}}}
spec:
  inputs:
    target: {{type: string, default: staging}}
  on:
{on}
  steps:
    - {{id: a, type: shell, run: "true"}}
"""
HOOKED = "    webhook: {branches: [main]}"
SECRET = "Hook-Shared-Secret-4711"


class Api:
    """A JSON client acting with one user's API token."""

    def __init__(self, client: Any, user: Any, read_only: bool = False) -> None:
        self.client = client
        self.headers = {
            "Authorization": f"Token {token_create(actor=user, user=user, name='t', read_only=read_only)[1]}"
        }

    def __call__(self, method: str, url: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        return self.client.generic(method, url, data, content_type="application/json", headers=self.headers)


@pytest.fixture
def shop():
    return ProjectFactory(slug="shop")


@pytest.fixture
def pipeline(shop):
    root = UserFactory(username="root", is_superuser=True)
    return pipeline_import(actor=root, project=shop, yaml_text=YAML.format(name="web", on=HOOKED)).pipeline


@pytest.fixture
def maintainer(client, shop):
    return Api(client, make_user_with_role(shop, Role.MAINTAINER, username="mia"))


def verbs() -> list[str]:
    return list(AuditEvent.objects.filter(verb__startswith="trigger.").order_by("pk").values_list("verb", flat=True))


def test_a_maintainer_adds_changes_switches_and_removes_a_schedule(maintainer, pipeline):
    body = {"pipeline": pipeline.pk, "kind": "schedule", "name": "nightly",
            "config": {"cron": "0 3 * * 1-5", "timezone": "Europe/Paris", "inputs": {"target": "nightly"}}}  # fmt: skip
    created = maintainer("POST", "/api/v1/triggers/", body)
    assert created.status_code == 201, created.content
    answer = created.json()
    assert (answer["key"], answer["origin"], answer["active"], answer["project"]) == ("schedule:nightly", "api", True,
                                                                                      "shop")  # fmt: skip
    assert answer["config"] == {"cron": "0 3 * * 1-5", "timezone": "Europe/Paris", "enabled": True,
                                "inputs": {"target": "nightly"}}  # fmt: skip
    assert answer["user_capabilities"] == {"view": True, "add": True, "change": True, "delete": True}
    trigger = Trigger.objects.get(pk=answer["id"])
    task = PeriodicTask.objects.get(pk=trigger.periodic_task_id)
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone), task.enabled) == (
        "0", "3", "Europe/Paris", True
    )  # fmt: skip

    changed = maintainer("PATCH", f"/api/v1/triggers/{trigger.pk}/", {"config": {"cron": "30 4 * * *"}})
    assert changed.status_code == 200, changed.content
    assert changed.json()["config"]["timezone"] == "UTC"
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour) == ("30", "4")

    off = maintainer("POST", f"/api/v1/triggers/{trigger.pk}/disable/")
    assert (off.status_code, off.json()["enabled"], off.json()["active"]) == (200, False, False)
    task.refresh_from_db()
    assert task.enabled is False  # a switched-off schedule does not fire
    assert maintainer("POST", f"/api/v1/triggers/{trigger.pk}/enable/").json()["active"] is True

    # A new version of the pipeline leaves a trigger added through the API alone.
    root = UserFactory(username="root2", is_superuser=True)
    pipeline_import(actor=root, project=pipeline.project, yaml_text=YAML.format(name="web", on="    api: true"))
    trigger.refresh_from_db()
    assert (trigger.declared, trigger.active, trigger.config["cron"]) == (True, True, "30 4 * * *")

    assert maintainer("DELETE", f"/api/v1/triggers/{trigger.pk}/").status_code == 204
    assert not Trigger.objects.filter(pk=trigger.pk).exists()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert verbs() == ["trigger.create", "trigger.update", "trigger.disable", "trigger.enable", "trigger.delete"]


def test_webhook_secrets_are_write_only(maintainer, pipeline):
    created = maintainer("POST", "/api/v1/triggers/", {
        "pipeline": pipeline.pk, "kind": "webhook", "name": "gitlab", "secret": SECRET,
        "config": {"provider": "gitlab", "tags": ["v*"], "inputs": {"target": "{{ trigger.tag }}"}},
    })  # fmt: skip
    assert created.status_code == 201, created.content
    trigger = Trigger.objects.get(pk=created.json()["id"])
    assert trigger_webhook_secret(trigger) == SECRET
    listed = maintainer("GET", f"/api/v1/triggers/?pipeline={pipeline.pk}&kind=webhook")
    bodies = [created.content.decode(), listed.content.decode(),
              maintainer("GET", f"/api/v1/triggers/{trigger.pk}/").content.decode()]  # fmt: skip
    assert all(SECRET not in body and '"secret"' not in body for body in bodies)
    rows = {row["key"]: row for row in listed.json()["results"]}
    assert set(rows) == {"webhook", "webhook:gitlab"}  # the declared one and the added one
    assert all(row["has_secret"] for row in rows.values())
    assert rows["webhook:gitlab"]["webhook_url"] == f"http://testserver/hooks/{trigger.public_id}/"

    rotated = maintainer("PATCH", f"/api/v1/triggers/{trigger.pk}/", {"secret": SECRET + "-2"})
    assert rotated.status_code == 200
    assert SECRET not in rotated.content.decode()
    trigger.refresh_from_db()
    assert trigger_webhook_secret(trigger) == SECRET + "-2"
    changes = AuditEvent.objects.get(verb="trigger.update").changes
    assert changes["secret"] == "changed"
    assert SECRET not in json.dumps(changes)


BAD = [
    ({}, {"pipeline", "kind", "name", "config"}),
    ({"kind": "api", "name": "x", "config": {}}, {"kind"}),
    ({"kind": "schedule", "name": "Not A Slug", "config": {"cron": "* * * * *"}}, {"name"}),
    ({"kind": "schedule", "name": "n", "config": {"cron": "61 * * * *"}}, {"config"}),
    ({"kind": "schedule", "name": "n", "config": {"cron": "* * * * *", "timezone": "Mars/Olympus"}}, {"config"}),
    ({"kind": "schedule", "name": "n", "config": {"cron": "* * * * *", "inputs": {"nope": 1}}}, {"config"}),
    ({"kind": "schedule", "name": "n", "config": {"cron": "* * * * *", "colour": "red"}}, {"config"}),
    ({"kind": "schedule", "name": "n", "config": "0 3 * * *"}, {"config"}),
    ({"kind": "schedule", "name": "n", "config": {"cron": "* * * * *"}, "secret": SECRET}, {"secret"}),
    ({"kind": "webhook", "name": "n", "config": {}}, {"secret"}),
    ({"kind": "webhook", "name": "n", "config": {}, "secret": "short"}, {"secret"}),
    ({"kind": "webhook", "name": "n", "config": {"provider": "bitbucket"}, "secret": SECRET}, {"config"}),
    (
        {"kind": "webhook", "name": "n", "config": {"inputs": {"target": "{{ trigger.tag"}}, "secret": SECRET},
        {"config"},
    ),
    ({"kind": "pipeline", "name": "n", "config": {"status": ["exploded"]}}, {"config"}),
    ({"kind": "schedule", "name": "n", "config": {"cron": "* * * * *"}, "pipeline": 2**63}, {"pipeline"}),
    ({"kind": "schedule", "name": "n", "config": {"cron": "* * * * *"}, "pipeline": 999999}, {"pipeline"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD)
def test_bad_payloads_answer_400_naming_each_field_and_write_nothing(maintainer, pipeline, body, fields):
    before = Trigger.objects.count()
    payload = {"pipeline": pipeline.pk, **body} if body else {}
    response = maintainer("POST", "/api/v1/triggers/", payload)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields, response.json()
    assert Trigger.objects.count() == before
    assert verbs() == []


def test_the_config_errors_say_where(maintainer, pipeline):
    response = maintainer("POST", "/api/v1/triggers/", {"pipeline": pipeline.pk, "kind": "schedule", "name": "n",
                                                        "config": {"cron": "61 * * * *", "timezone": "Mars/Olympus",
                                                                   "inputs": {"nope": 1}}})  # fmt: skip
    messages = response.json()["errors"]["config"]
    assert any(m.startswith("cron: invalid cron expression: minute '61'") for m in messages), messages
    assert "timezone: unknown time zone 'Mars/Olympus' (e.g. UTC, Europe/Paris)" in messages
    assert any(m.startswith("inputs.nope: unknown input 'nope'") for m in messages), messages
    duplicate = {"pipeline": pipeline.pk, "kind": "schedule", "name": "twice", "config": {"cron": "* * * * *"}}
    assert maintainer("POST", "/api/v1/triggers/", duplicate).status_code == 201
    again = maintainer("POST", "/api/v1/triggers/", duplicate)
    assert (again.status_code, again.json()["errors"]["name"]) == (400, [
        "This pipeline already has a schedule trigger named 'twice'."
    ])  # fmt: skip
    added = Trigger.objects.get(key="schedule:twice")
    bad_update = maintainer("PATCH", f"/api/v1/triggers/{added.pk}/", {"config": {"cron": "nope"}, "enabled": "maybe"})
    assert bad_update.status_code == 400
    assert set(bad_update.json()["errors"]) == {"enabled"}
    assert maintainer("PATCH", f"/api/v1/triggers/{added.pk}/", {"config": {"cron": "x"}}).json()["errors"]["config"]
    assert maintainer("PATCH", f"/api/v1/triggers/{added.pk}/", {"secret": SECRET}).json()["errors"] == {
        "secret": ["Only webhook triggers have a secret."]
    }
    added.refresh_from_db()
    assert added.config["cron"] == "* * * * *"


def test_declared_triggers_change_in_the_yaml_and_are_only_switched_here(maintainer, pipeline):
    declared = Trigger.objects.get(pipeline=pipeline, key="webhook")
    url = f"/api/v1/triggers/{declared.pk}/"
    conflict = maintainer("PATCH", url, {"config": {"branches": ["dev"]}})
    assert conflict.status_code == 409
    assert "declared in the pipeline's YAML" in conflict.json()["detail"]
    assert maintainer("DELETE", url).status_code == 409
    assert maintainer("PUT", url, {"config": declared.config, "enabled": False}).status_code == 200  # same config
    declared.refresh_from_db()
    assert (declared.enabled, declared.config["branches"]) == (False, ["main"])
    root = UserFactory(username="root2", is_superuser=True)
    pipeline_import(actor=root, project=pipeline.project, yaml_text=YAML.format(name="web", on="    api: true"))
    assert maintainer("GET", url).json()["declared"] is False
    assert maintainer("DELETE", url).status_code == 204  # no longer declared: can be cleaned up


@pytest.mark.parametrize("who", ["viewer", "operator", "read-only maintainer token", "outsider"])
def test_others_read_or_see_nothing_and_never_write(client, shop, pipeline, who):
    trigger = Trigger.objects.get(pipeline=pipeline, key="webhook")
    if who == "outsider":
        api = Api(client, make_user_with_role(ProjectFactory(slug="other"), Role.OWNER, username="o"))
    elif who.startswith("read-only"):
        api = Api(client, make_user_with_role(shop, Role.MAINTAINER, username="ro"), read_only=True)
    else:
        api = Api(client, make_user_with_role(shop, who, username=who))
    seen = 404 if who == "outsider" else 200
    denied = 404 if who == "outsider" else 403
    assert api("GET", f"/api/v1/triggers/{trigger.pk}/").status_code == seen
    assert len(api("GET", "/api/v1/triggers/").json()["results"]) == (
        0 if who == "outsider" else 3
    )  # api, manual, hook
    body = {"pipeline": pipeline.pk, "kind": "schedule", "name": "n", "config": {"cron": "* * * * *"}}
    assert api("POST", "/api/v1/triggers/", body).status_code == (400 if who == "outsider" else 403)
    assert api("PATCH", f"/api/v1/triggers/{trigger.pk}/", {"enabled": False}).status_code == denied
    assert api("POST", f"/api/v1/triggers/{trigger.pk}/disable/").status_code == denied
    assert api("DELETE", f"/api/v1/triggers/{trigger.pk}/").status_code == denied
    trigger.refresh_from_db()
    assert (trigger.enabled, Trigger.objects.count(), verbs()) == (True, 3, [])


def test_the_triggers_page_shows_the_last_firing_and_switches(client, shop, pipeline):
    hook = Trigger.objects.get(pipeline=pipeline, key="webhook")
    trigger_record(trigger=hook, outcome="failed", reason="inputs.target: must match '^v[0-9]+'")
    maintainer = make_user_with_role(shop, Role.MAINTAINER, username="mia")
    client.force_login(maintainer)
    project_page = client.get("/projects/shop/").content.decode()
    assert 'href="/projects/shop/triggers/"' in project_page
    page = client.get("/projects/shop/triggers/").content.decode()
    assert f"http://testserver/hooks/{hook.public_id}/" in page
    assert "inputs.target: must match &#x27;^v[0-9]+&#x27;" in page
    assert "secret" not in page.replace("Webhook secrets are never shown", "")
    assert client.post(f"/projects/shop/triggers/{hook.pk}/switch/", {"enabled": "maybe"}).status_code == 400
    response = client.post(f"/projects/shop/triggers/{hook.pk}/switch/", {"enabled": "0"})
    assert (response.status_code, response["Location"]) == (302, "/projects/shop/triggers/")
    hook.refresh_from_db()
    assert hook.enabled is False
    assert AuditEvent.objects.filter(verb="trigger.disable", actor_user=maintainer).exists()
    assert "switched off" in client.get("/projects/shop/triggers/").content.decode()

    viewer = make_user_with_role(shop, Role.VIEWER, username="vic")
    client.force_login(viewer)
    assert "/projects/shop/triggers/" not in client.get("/projects/shop/").content.decode()
    assert client.get("/projects/shop/triggers/").status_code == 403
    assert client.post(f"/projects/shop/triggers/{hook.pk}/switch/", {"enabled": "1"}).status_code == 403
    hook.refresh_from_db()
    assert hook.enabled is False
