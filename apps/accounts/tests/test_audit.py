"""The audit log is append-only and services write it in the same transaction as the change."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from apps.accounts.choices import Role
from apps.accounts.models import AuditEvent, AuditEventImmutable, Membership, Project
from apps.accounts.permissions import attach_token
from apps.accounts.services import audit_record, membership_remove, membership_set, project_create, token_create

from .factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(project):
    return audit_record(actor=UserFactory(username="alice"), verb="test.thing", target=project, changes={"a": 1})


def test_saving_an_existing_event_raises(event):
    event.verb = "test.changed"
    with pytest.raises(AuditEventImmutable):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).verb == "test.thing"


def test_deleting_an_event_raises(event):
    with pytest.raises(AuditEventImmutable):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_delete_and_bulk_update_raise(event):
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(verb="x")
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.bulk_update([event], ["verb"])
    assert AuditEvent.objects.get(pk=event.pk).verb == "test.thing"


def test_deleting_the_actor_or_project_keeps_the_record(event, project):
    actor = event.actor_user
    actor.delete()
    project.delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert kept.actor_repr == "alice"
    assert kept.project_slug == "shop"


def test_the_admin_is_read_only(event, rf):
    model_admin = admin.site._registry[AuditEvent]
    request = rf.get("/admin/")
    request.user = UserFactory(is_superuser=True, is_staff=True)
    assert model_admin.has_view_permission(request, event)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)


def test_records_actor_token_request_and_masks_secrets(project):
    user = UserFactory(username="bob")
    token, _ = token_create(actor=None, user=user, name="ci")
    request = RequestFactory().post("/x", HTTP_USER_AGENT="curl/8", REMOTE_ADDR="10.1.2.3")
    request.request_id = "req-42"
    event = audit_record(
        actor=attach_token(user, token),
        verb="test.masked",
        target=project,
        changes={"env": {"PASSWORD": "hunter2-abc"}, "note": "sent hunter2-abc"},
        request=request,
        secrets=["hunter2-abc"],
    )
    assert event.actor_user == user
    assert event.actor_token == token
    assert event.actor_repr == "bob (token ci)"
    assert (event.ip, event.user_agent, event.request_id) == ("10.1.2.3", "curl/8", "req-42")
    assert event.changes == {"env": {"PASSWORD": "***"}, "note": "sent ***"}
    assert event.project == project
    system = audit_record(actor=None, verb="test.system")
    assert system.actor_repr == "system"
    assert system.actor_user is None


def test_service_and_audit_share_one_transaction(project):
    owner = UserFactory()
    membership = membership_set(actor=None, project=project, role=Role.OWNER, user=owner)
    before = AuditEvent.objects.count()
    # Removing the last owner is refused: neither the change nor an audit row is written.
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_remove(actor=owner, membership=membership)
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_set(actor=owner, project=project, role=Role.VIEWER, user=owner)
    assert AuditEvent.objects.count() == before
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_project_create_makes_the_actor_owner_and_audits(project):
    user = UserFactory(username="carol")
    created = project_create(actor=user, slug="web", name="Web")
    assert Membership.objects.get(project=created, user=user).role == Role.OWNER
    verbs = list(AuditEvent.objects.filter(project=created).order_by("id").values_list("verb", flat=True))
    assert verbs == ["project.create", "membership.create"]
    with pytest.raises(ValidationError):
        project_create(actor=user, slug="not a slug!", name="x")
    assert not Project.objects.filter(name="x").exists()
