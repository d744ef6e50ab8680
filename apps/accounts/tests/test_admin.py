"""The admin, restricted by the permission API for staff who are not superusers."""

from __future__ import annotations

import pytest

from apps.accounts.models import AuditEvent, Credential, Project
from apps.accounts.services import audit_record, credential_secrets

from .factories import CredentialFactory, ProjectFactory, make_user_with_role

pytestmark = pytest.mark.django_db

SECRET = "Adm1n-Secret-Value"


@pytest.fixture
def staff_maintainer(project):
    return make_user_with_role(project, "maintainer", username="staffer", is_staff=True)


def test_staff_see_only_their_projects_objects(client, project, staff_maintainer):
    other = ProjectFactory(slug="zz-elsewhere", name="Zz Elsewhere")
    mine = CredentialFactory(project=project, name="mine")
    hidden = CredentialFactory(project=other, name="hidden-cred")
    client.force_login(staff_maintainer)
    listing = client.get("/admin/accounts/credential/")
    assert listing.status_code == 200
    assert b"mine" in listing.content
    assert b"hidden-cred" not in listing.content
    assert client.get(f"/admin/accounts/credential/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/accounts/credential/{hidden.pk}/change/").status_code == 302  # "doesn't exist"
    projects = client.get("/admin/accounts/project/")
    assert b"Zz Elsewhere" not in projects.content
    assert b"Shop" in projects.content
    # A maintainer may view the project but not change it (owner only).
    page = client.get(f"/admin/accounts/project/{project.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    response = client.post(f"/admin/accounts/project/{project.pk}/change/", {"name": "Renamed"})
    assert response.status_code == 403
    assert Project.objects.get(pk=project.pk).name != "Renamed"


def test_staff_outsider_sees_nothing(client, project):
    outsider = make_user_with_role(project, None, username="lurker", is_staff=True)
    CredentialFactory(project=project, name="secret-thing")
    client.force_login(outsider)
    assert b"secret-thing" not in client.get("/admin/accounts/credential/").content
    assert client.get("/admin/accounts/credential/add/").status_code == 403


def test_credential_secrets_are_write_only_in_the_admin(client, project, staff_maintainer):
    client.force_login(staff_maintainer)
    response = client.post(
        "/admin/accounts/credential/add/",
        {"project": project.pk, "name": "reg", "kind": "username_password", "description": "",
         "username": "ci", "password": SECRET},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    credential = Credential.objects.get(name="reg")
    page = client.get(f"/admin/accounts/credential/{credential.pk}/change/")
    assert SECRET.encode() not in page.content
    assert b'value="ci"' in page.content
    # Saving with the secret left empty keeps it.
    response = client.post(
        f"/admin/accounts/credential/{credential.pk}/change/",
        {"name": "reg", "description": "changed", "username": "ci2", "password": ""},
    )
    assert response.status_code == 302
    assert credential_secrets(credential=Credential.objects.get(pk=credential.pk)) == {
        "username": "ci2",
        "password": SECRET,
    }
    assert AuditEvent.objects.filter(verb="credential.update", actor_user=staff_maintainer).exists()
    missing = client.post(
        "/admin/accounts/credential/add/",
        {"project": project.pk, "name": "bad", "kind": "username_password", "username": "x"},
    )
    assert missing.status_code == 200
    assert b"This field is required." in missing.content
    assert not Credential.objects.filter(name="bad").exists()


def test_audit_admin_is_read_only(client, project):
    root = make_user_with_role(project, None, username="root-admin", is_staff=True, is_superuser=True)
    event = audit_record(actor=None, verb="test.event", project=project)
    client.force_login(root)
    assert client.get("/admin/accounts/auditevent/").status_code == 200
    page = client.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(f"/admin/accounts/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
