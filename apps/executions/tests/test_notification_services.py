"""Notification targets and rules: bad input is refused with a sentence per field and nothing written; the admin
saves through the services, audited; only maintainers edit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import AuditEvent
from apps.accounts.services import credential_create, project_create
from apps.accounts.tests.factories import UserFactory, make_user_with_role
from apps.executions.models import NotificationRule, NotificationTarget
from apps.executions.notifications.choices import NotificationEvent, TargetKind
from apps.executions.notifications.messages import render, sample_context
from apps.executions.notifications.services import (
    notification_rule_create,
    notification_rule_update,
    notification_target_create,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def shop(root):
    return project_create(actor=root, slug="shop", name="Shop")


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def target(root, proj, **fields):
    return notification_target_create(actor=root, project=proj, **fields)


def test_targets_refuse_bad_input_field_by_field(root, shop):
    other = project_create(actor=root, slug="other", name="Other")
    foreign = credential_create(actor=root, project=other, name="hook", kind="secret_text", fields={"secret": "x" * 8})
    not_a_url = credential_create(actor=root, project=shop, name="plain", kind="secret_text", fields={"secret": "abcd"})
    assert "recipients" in errors_of(lambda: target(root, shop, name="m", kind="email", recipients=["not-an-address"]))
    assert "recipients" in errors_of(lambda: target(root, shop, name="m", kind="email", recipients=[]))
    assert "url" in errors_of(lambda: target(root, shop, name="w", kind="webhook", url="file:///etc/passwd"))
    assert "body_template" in errors_of(
        lambda: target(root, shop, name="w", kind="webhook", url="http://h/", body_template={"a": "{{ oops"})
    )
    assert "body_template" in errors_of(
        lambda: target(root, shop, name="w", kind="webhook", url="http://h/", body_template=["a"])
    )
    assert "credential" in errors_of(
        lambda: target(root, shop, name="w", kind="webhook", url="http://h/", credential=foreign)
    )
    assert "credential" in errors_of(lambda: target(root, shop, name="s", kind="slack"))
    assert "credential" in errors_of(lambda: target(root, shop, name="s", kind="slack", credential=not_a_url))
    assert "colour" in errors_of(lambda: target(root, shop, name="w", kind="webhook", url="http://h/", colour="red"))
    assert not NotificationTarget.objects.exists()


def test_rules_refuse_bad_input_and_foreign_targets(root, shop):
    other = project_create(actor=root, slug="other", name="Other")
    mine = target(root, shop, name="hook", kind=TargetKind.WEBHOOK, url="http://127.0.0.1:9/")
    theirs = target(root, other, name="hook", kind=TargetKind.WEBHOOK, url="http://127.0.0.1:9/")

    def rule(**fields):
        defaults = {"name": "r", "event": NotificationEvent.FAILURE, "targets": [mine]}
        return lambda: notification_rule_create(actor=root, project=shop, **{**defaults, **fields})

    assert "targets" in errors_of(rule(targets=[]))
    assert "targets" in errors_of(rule(targets=[mine, theirs]))
    assert "minutes" in errors_of(rule(event=NotificationEvent.LONG_RUNNING))
    assert "minutes" in errors_of(rule(event=NotificationEvent.LONG_RUNNING, minutes=0))
    assert "minutes" in errors_of(rule(minutes=5))
    assert "event" in errors_of(rule(event="on-tuesdays"))
    assert not NotificationRule.objects.exists()
    created = rule(event=NotificationEvent.LONG_RUNNING, minutes=30)()
    updated = notification_rule_update(actor=root, rule=created, enabled=False, minutes=45)
    assert (updated.enabled, updated.minutes, list(updated.targets.all())) == (False, 45, [mine])
    verbs = list(AuditEvent.objects.filter(verb__startswith="notification_").values_list("verb", flat=True))
    assert sorted(verbs) == ["notification_rule.create", "notification_rule.update", "notification_target.create",
                             "notification_target.create"]  # fmt: skip


def test_a_body_template_error_is_reported_not_raised_at_render_time(root, shop):
    hook = target(root, shop, name="w", kind="webhook", url="http://h/", body_template={"x": "{{ nothing.here }}"})
    with pytest.raises(Exception, match="nothing"):
        render(hook, sample_context(), [])
    text, payload = render(target(root, shop, name="s2", kind="webhook", url="http://h/"), sample_context(), ["shop"])
    assert payload["project"] == "***"
    assert "shop" not in text


def test_admin_lets_maintainers_add_targets_and_rules_and_viewers_only_look(client, root, shop):
    maintainer = make_user_with_role(shop, "maintainer", username="mia", is_staff=True)
    viewer = make_user_with_role(shop, "viewer", username="vic", is_staff=True)
    client.force_login(maintainer)
    response = client.post("/admin/executions/notificationtarget/add/", {
        "project": shop.pk, "name": "ops", "kind": "email", "recipients": '["ops@example.com"]', "secret_header": "",
        "body_template": "{}", "url": "", "description": "",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    ops = NotificationTarget.objects.get(name="ops")
    response = client.post("/admin/executions/notificationrule/add/", {
        "project": shop.pk, "name": "failures", "event": "failure", "targets": [ops.pk], "enabled": "on",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(NotificationRule.objects.get(name="failures").targets.all()) == [ops]
    assert AuditEvent.objects.filter(verb="notification_rule.create", actor_user=maintainer).exists()
    bad = client.post("/admin/executions/notificationtarget/add/", {
        "project": shop.pk, "name": "bad", "kind": "email", "recipients": '["nope"]', "body_template": "{}",
    })  # fmt: skip
    assert bad.status_code == 200
    assert "Not an email address: nope" in bad.content.decode()
    client.force_login(viewer)
    assert client.get(f"/admin/executions/notificationtarget/{ops.pk}/change/").status_code == 200
    assert client.post("/admin/executions/notificationtarget/add/", {"project": shop.pk}).status_code == 403
    assert client.post(f"/admin/executions/notificationtarget/{ops.pk}/delete/", {"post": "yes"}).status_code == 403
    assert NotificationTarget.objects.filter(pk=ops.pk).exists()
