"""The notifications API and page: maintainers manage targets and rules through the services (audited), viewers
read them and every delivery attempt; secrets never come back; bad input is a 400 per field, nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.choices import Role
from apps.accounts.models import AuditEvent
from apps.accounts.services import credential_create, project_create, token_create
from apps.accounts.tests.factories import UserFactory, make_user_with_role
from apps.executions.models import Execution, NotificationDelivery, NotificationRule, NotificationTarget
from apps.executions.services import execution_start
from apps.pipelines.services import pipeline_import

from .helpers import pipeline_yaml

pytestmark = pytest.mark.django_db

TOKEN = "Bearer-Secret-Value-77"
URL_KEY = "Url-Query-Key-8a8a"
PASSWORD = "Basic-Pw-In-Url-31"


class Api:
    """A JSON client acting with one user's API token."""

    def __init__(self, client: Any, user: Any) -> None:
        self.client = client
        self.headers = {"Authorization": f"Token {token_create(actor=user, user=user, name='t')[1]}"}

    def __call__(self, method: str, url: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        return self.client.generic(method, url, data, content_type="application/json", headers=self.headers)


@pytest.fixture
def root():
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def shop(root):
    shop = project_create(actor=root, slug="shop", name="Shop")
    credential_create(actor=root, project=shop, name="hook-token", kind="bearer_token", fields={"token": TOKEN})
    credential_create(actor=root, project=shop, name="url-key", kind="secret_text", fields={"secret": URL_KEY})
    return shop


@pytest.fixture
def maintainer(client, shop):
    return Api(client, make_user_with_role(shop, Role.MAINTAINER, username="mia"))


def verbs() -> list[str]:
    rows = AuditEvent.objects.filter(verb__startswith="notification_").order_by("pk")
    return list(rows.values_list("verb", flat=True))


def test_targets_and_rules_through_the_api_never_show_a_secret(maintainer, shop, root):
    url = f"https://ci:{PASSWORD}@hooks.example.com/in?key={URL_KEY}"
    body = {"project": "shop", "name": "ops-hook", "kind": "webhook", "url": url, "credential": "hook-token",
            "body_template": {"text": "{{ message }}", "key": URL_KEY}}  # fmt: skip
    created = maintainer("POST", "/api/v1/notification-targets/", body)
    assert created.status_code == 201, created.content
    answer = created.json()
    assert answer["url"] == "https://ci:***@hooks.example.com/in?key=***"
    assert answer["body_template"] == {"text": "{{ message }}", "key": "***"}
    assert (answer["credential"], answer["has_secret"], answer["project"]) == ("hook-token", True, "shop")
    target = NotificationTarget.objects.get(pk=answer["id"])
    assert target.url == url  # stored as given; only the answers are masked
    mail = maintainer(
        "POST",
        "/api/v1/notification-targets/",
        {"project": "shop", "name": "ops-mail", "kind": "email", "recipients": ["ops@a.example"]},
    )
    assert mail.status_code == 201, mail.content

    rule = maintainer(
        "POST",
        "/api/v1/notification-rules/",
        {"project": "shop", "name": "slow", "minutes": 15, "event": "long_running", "targets": ["ops-hook"]},
    )
    assert rule.status_code == 201, rule.content
    assert (rule.json()["targets"], rule.json()["enabled"], rule.json()["pipeline"]) == (["ops-hook"], True, None)
    rule_url = f"/api/v1/notification-rules/{rule.json()['id']}/"
    changed = maintainer("PATCH", rule_url, {"targets": ["ops-mail", "ops-hook"], "minutes": 30})
    assert (changed.status_code, changed.json()["targets"], changed.json()["minutes"]) == (
        200, ["ops-hook", "ops-mail"], 30
    )  # fmt: skip
    assert (
        maintainer("PATCH", f"/api/v1/notification-targets/{target.pk}/", {"credential": None}).json()["has_secret"]
        is False
    )

    listed = maintainer("GET", "/api/v1/notification-targets/?kind=webhook")
    everything = (
        created.content.decode()
        + listed.content.decode()
        + json.dumps(list(AuditEvent.objects.values_list("changes", flat=True)))
    )
    for secret in (TOKEN, PASSWORD):
        assert secret not in everything
    assert [row["name"] for row in listed.json()["results"]] == ["ops-hook"]

    assert maintainer("DELETE", rule_url).status_code == 204
    assert maintainer("DELETE", f"/api/v1/notification-targets/{target.pk}/").status_code == 204
    assert not NotificationRule.objects.exists()
    assert list(NotificationTarget.objects.values_list("name", flat=True)) == ["ops-mail"]
    assert verbs() == ["notification_target.create", "notification_target.create", "notification_rule.create",
                       "notification_rule.update", "notification_target.update", "notification_rule.delete",
                       "notification_target.delete"]  # fmt: skip


BAD_TARGETS = [
    ({}, {"project", "name", "kind"}),
    ({"name": "x", "kind": "pager"}, {"kind"}),
    ({"name": "x", "kind": "email", "recipients": ["not-an-address"]}, {"recipients"}),
    ({"name": "x", "kind": "email", "recipients": "ops@a.example"}, {"recipients"}),
    ({"name": "x", "kind": "webhook", "url": "file:///etc/passwd"}, {"url"}),
    ({"name": "x", "kind": "webhook", "url": "http://[::1"}, {"url"}),
    ({"name": "x", "kind": "webhook", "url": "http://h:99999/"}, {"url"}),
    ({"name": "x", "kind": "webhook", "url": "http://h/", "body_template": ["a"]}, {"body_template"}),
    ({"name": "x", "kind": "webhook", "url": "http://h/", "body_template": {"a": "{{ oops"}}, {"body_template"}),
    ({"name": "x", "kind": "webhook", "url": "http://h/", "credential": "nope"}, {"credential"}),
    ({"name": "x", "kind": "slack"}, {"credential"}),
    ({"name": "x", "kind": "slack", "credential": "hook-token"}, {"credential"}),
    ({"name": "Not A Slug", "kind": "email", "recipients": ["ops@a.example"]}, {"name"}),
    ({"project": "nowhere", "name": "x", "kind": "email", "recipients": ["ops@a.example"]}, {"project"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD_TARGETS)
def test_bad_targets_answer_400_naming_each_field_and_write_nothing(maintainer, shop, body, fields):
    payload = {"project": "shop", **body} if body else {}
    response = maintainer("POST", "/api/v1/notification-targets/", payload)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields, response.json()
    assert not NotificationTarget.objects.exists()
    assert verbs() == []


def test_bad_rules_and_updates_answer_400_and_change_nothing(maintainer, shop, root):
    other = project_create(actor=root, slug="other", name="Other")
    foreign = pipeline_import(
        actor=root,
        project=other,
        yaml_text=pipeline_yaml("theirs", "- {id: a, type: shell, run: 'true'}", project_slug="other"),
    )
    assert maintainer("POST", "/api/v1/notification-targets/", {"project": "shop", "name": "hook", "kind": "webhook",
                                                                "url": "http://h/"}).status_code == 201  # fmt: skip
    twice = maintainer(
        "POST",
        "/api/v1/notification-targets/",
        {"project": "shop", "name": "hook", "kind": "email", "recipients": ["a@a.example"]},
    )
    assert (twice.status_code, twice.json()["errors"]) == (400, {
        "name": ["The project already has a notification target named 'hook'."]
    })  # fmt: skip
    cases = [
        ({"targets": []}, {"targets"}),
        ({"targets": ["hook", "ghost"]}, {"targets"}),
        ({"event": "long_running"}, {"minutes"}),
        ({"minutes": 5}, {"minutes"}),
        ({"event": "on-tuesdays"}, {"event"}),
        ({"pipeline": foreign.pipeline.pk}, {"pipeline"}),
        ({"pipeline": "one"}, {"pipeline"}),
    ]
    for fields, names in cases:
        body = {"project": "shop", "name": "r", "event": "failure", "targets": ["hook"], **fields}
        response = maintainer("POST", "/api/v1/notification-rules/", body)
        assert response.status_code == 400, (fields, response.content)
        assert set(response.json()["errors"]) == names, (fields, response.json())
    assert not NotificationRule.objects.exists()
    first = {"project": "shop", "name": "r", "event": "failure", "targets": ["hook"]}
    rule = maintainer("POST", "/api/v1/notification-rules/", first).json()
    again = maintainer("POST", "/api/v1/notification-rules/", first)
    assert (again.status_code, set(again.json()["errors"])) == (400, {"name"})
    bad = maintainer("PATCH", f"/api/v1/notification-rules/{rule['id']}/", {"event": "long_running"})
    assert (bad.status_code, set(bad.json()["errors"])) == (400, {"minutes"})
    target = NotificationTarget.objects.get(name="hook")
    bad = maintainer("PUT", f"/api/v1/notification-targets/{target.pk}/", {"url": "gopher://h/"})
    assert (bad.status_code, set(bad.json()["errors"])) == (400, {"url"})
    assert NotificationRule.objects.get().event == "failure"
    assert NotificationTarget.objects.get().url == "http://h/"


@pytest.fixture
def delivered(shop, root):
    """Two runs of a pipeline, a target per kind of answer, and the attempts the workers recorded."""
    imported = pipeline_import(actor=root, project=shop, yaml_text=pipeline_yaml("web", "- {id: gate, type: "
                               "approval}", project_slug="shop"))  # fmt: skip
    runs = [execution_start(actor=root, pipeline=imported.pipeline) for _ in range(2)]
    hook = NotificationTarget.objects.create(project=shop, name="hook", kind="webhook", url="http://h/")
    mail = NotificationTarget.objects.create(project=shop, name="mail", kind="email", recipients=["a@a.example"])
    rows = [
        (hook, runs[0], 1, "retrying", 503, "HTTP 503: busy"),
        (hook, runs[0], 2, "sent", 200, ""),
        (mail, runs[1], 1, "failed", 550, "SMTP 550: no such user"),
    ]
    for target, run, attempt, status, code, error in rows:
        NotificationDelivery.objects.create(project=shop, target=target, target_name=target.name, execution=run,
                                            event="failure", attempt=attempt, status=status, response_code=code,
                                            error=error, message="shop/web failed")  # fmt: skip
    return hook, mail, runs


def test_deliveries_are_read_only_and_filter_by_target_and_status(client, shop, delivered):
    hook, mail, _ = delivered
    viewer = Api(client, make_user_with_role(shop, Role.VIEWER, username="vic"))
    every = viewer("GET", "/api/v1/notification-deliveries/").json()["results"]
    assert [(row["target_name"], row["attempt"], row["status"]) for row in every] == [
        ("mail", 1, "failed"), ("hook", 2, "sent"), ("hook", 1, "retrying")
    ]  # fmt: skip
    assert every[0]["error"] == "SMTP 550: no such user"
    hooked = viewer("GET", f"/api/v1/notification-deliveries/?target={hook.pk}").json()["results"]
    assert {row["target"] for row in hooked} == {hook.pk}
    failed = viewer("GET", "/api/v1/notification-deliveries/?status=failed").json()["results"]
    assert [row["target_name"] for row in failed] == ["mail"]
    for query in ("?status=lost", "?target=x", f"?target={2**64}"):
        response = viewer("GET", f"/api/v1/notification-deliveries/{query}")
        assert response.status_code == 400, query
    row = every[0]["id"]
    assert viewer("DELETE", f"/api/v1/notification-deliveries/{row}/").status_code == 405
    assert viewer("POST", "/api/v1/notification-deliveries/", {}).status_code == 405
    viewer_writes = viewer("POST", "/api/v1/notification-targets/", {"project": "shop", "name": "x", "kind": "email",
                                                                     "recipients": ["a@a.example"]})  # fmt: skip
    assert viewer_writes.status_code == 403
    assert viewer("PATCH", f"/api/v1/notification-targets/{hook.pk}/", {"url": "http://x/"}).status_code == 403
    outsider = Api(client, make_user_with_role(project_create(actor=UserFactory(is_superuser=True), slug="o",
                                                              name="O"), Role.OWNER, username="out"))  # fmt: skip
    assert outsider("GET", "/api/v1/notification-deliveries/").json()["results"] == []
    assert outsider("GET", f"/api/v1/notification-deliveries/{row}/").status_code == 404
    assert outsider("DELETE", f"/api/v1/notification-targets/{mail.pk}/").status_code == 404
    assert NotificationTarget.objects.count() == 2


def test_the_notifications_page_shows_targets_rules_and_attempts(client, shop, root, delivered):
    hook, _mail, runs = delivered
    NotificationTarget.objects.filter(pk=hook.pk).update(url=f"http://h/in?key={URL_KEY}")
    rule = NotificationRule.objects.create(project=shop, name="on-failure", event="failure")
    rule.targets.set([hook])
    maintainer = make_user_with_role(shop, Role.MAINTAINER, username="mia")
    client.force_login(maintainer)
    assert 'href="/projects/shop/notifications/"' in client.get("/projects/shop/").content.decode()
    page = client.get("/projects/shop/notifications/").content.decode()
    assert "http://h/in?key=***" in page
    assert URL_KEY not in page
    assert "on-failure" in page
    assert "SMTP 550: no such user" in page
    assert "HTTP 503: busy" in page
    assert f'href="/executions/{runs[1].pk}/"' in page
    failed = client.get("/projects/shop/notifications/?status=failed").content.decode()
    assert "SMTP 550" in failed
    assert "HTTP 503" not in failed
    assert "HTTP 503" not in client.get(f"/projects/shop/notifications/?target={_mail.pk}").content.decode()
    bad = client.get("/projects/shop/notifications/?status=exploded")
    assert bad.status_code == 200
    assert "Select a valid choice" in bad.content.decode()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/projects/shop/notifications/").status_code == 200
        return len(captured)

    few = queries()
    for n in range(5):
        extra = NotificationTarget.objects.create(project=shop, name=f"hook-{n}", kind="webhook", url="http://h/")
        more = NotificationRule.objects.create(project=shop, name=f"rule-{n}", event="failure")
        more.targets.set([extra, hook])
        NotificationDelivery.objects.create(project=shop, target=extra, target_name=extra.name, execution=runs[0],
                                            event="failure", status="sent")  # fmt: skip
    assert queries() == few

    client.force_login(make_user_with_role(shop, Role.OPERATOR, username="op"))
    assert client.get("/projects/shop/notifications/").status_code == 403
    assert "/projects/shop/notifications/" not in client.get("/projects/shop/").content.decode()
    assert Execution.objects.count() == 2
