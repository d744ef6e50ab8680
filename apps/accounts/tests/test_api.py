"""The accounts REST API: permission matrix per endpoint, write-only secrets, audit filters, flat query counts."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken, AuditEvent, Credential, Membership, Project, Team
from apps.accounts.services import audit_record, credential_secrets

from .conftest import ROLES
from .factories import CredentialFactory, ProjectFactory, TeamFactory, UserFactory, make_user_with_role

pytestmark = pytest.mark.django_db

SECRET = "Sup3r-Secret-Registry-Pw"


def as_user(client, user):
    if user.is_authenticated:
        client.force_login(user)
    return client


# role -> expected status for: list sees the project, retrieve, PATCH project, POST credential, POST membership
MATRIX = {
    "anonymous": (None, 401, 401, 401, 401),
    "outsider": (False, 404, 404, 400, 400),
    "viewer": (True, 200, 403, 403, 403),
    "operator": (True, 200, 403, 403, 403),
    "maintainer": (True, 200, 403, 201, 403),
    "owner": (True, 200, 200, 201, 201),
    "superuser": (True, 200, 200, 201, 201),
}


@pytest.mark.parametrize("role_name", ROLES)
def test_project_endpoints_matrix(client, people, project, role_name):
    listed, retrieve, patch, post_credential, post_membership = MATRIX[role_name]
    client = as_user(client, people[role_name])
    response = client.get("/api/v1/projects/")
    if listed is None:
        assert response.status_code == 401
    else:
        assert (project.slug in [p["slug"] for p in response.json()["results"]]) is listed
    assert client.get(f"/api/v1/projects/{project.slug}/").status_code == retrieve
    response = client.patch(f"/api/v1/projects/{project.slug}/", {"name": "Renamed"}, content_type="application/json")
    assert response.status_code == patch
    assert (Project.objects.get(pk=project.pk).name == "Renamed") is (patch == 200)
    body = {"project": project.slug, "name": "registry", "kind": "username_password",
            "fields": {"username": "ci", "password": SECRET}}  # fmt: skip
    response = client.post("/api/v1/credentials/", body, content_type="application/json")
    assert response.status_code == post_credential, response.content
    assert Credential.objects.filter(name="registry").exists() is (post_credential == 201)
    newcomer = UserFactory(username="newcomer")
    response = client.post(
        "/api/v1/memberships/",
        {"project": project.slug, "user": newcomer.username, "role": "viewer"},
        content_type="application/json",
    )
    assert response.status_code == post_membership, response.content
    assert Membership.objects.filter(user=newcomer).exists() is (post_membership == 201)


def test_credential_secrets_are_write_only(client, people, project):
    client.force_login(people["maintainer"])
    body = {"project": project.slug, "name": "registry", "kind": "registry", "description": "prod",
            "fields": {"url": "reg.local:5000", "username": "ci", "password": SECRET}}  # fmt: skip
    created = client.post("/api/v1/credentials/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["public_fields"] == {"url": "reg.local:5000", "username": "ci"}
    assert data["secret_fields"] == {"password": "***"}
    for url in ("/api/v1/credentials/", f"/api/v1/credentials/{data['id']}/", "/api/v1/audit-events/"):
        assert SECRET not in client.get(url).content.decode()
    changed = client.patch(
        f"/api/v1/credentials/{data['id']}/",
        {"fields": {"password": "N3w-Secret-Value"}},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert "N3w-Secret-Value" not in changed.content.decode()
    assert credential_secrets(credential=Credential.objects.get(pk=data["id"]))["password"] == "N3w-Secret-Value"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "registry", "fields": {"username": "x", "password": "y"}}, "url"),
        ({"kind": "ssh_key", "fields": {"colour": "red"}}, "colour"),
        ({"kind": "laser", "fields": {}}, "kind"),
    ],
)
def test_bad_credential_bodies_answer_400(client, people, project, body, field):
    client.force_login(people["maintainer"])
    response = client.post(
        "/api/v1/credentials/", {"project": project.slug, "name": "c1", **body}, content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Credential.objects.exists()


def test_duplicate_names_and_slugs_answer_400(client, people, project):
    client.force_login(people["superuser"])
    CredentialFactory(project=project, name="dup")
    body = {"project": project.slug, "name": "dup", "kind": "secret_text", "fields": {"secret": "abcd"}}
    assert client.post("/api/v1/credentials/", body, content_type="application/json").status_code == 400
    response = client.post("/api/v1/projects/", {"slug": project.slug, "name": "x"}, content_type="application/json")
    assert response.status_code == 400


def test_superuser_creates_projects_and_becomes_owner(client, people):
    client.force_login(people["owner"])
    assert (
        client.post("/api/v1/projects/", {"slug": "web", "name": "Web"}, content_type="application/json").status_code
        == 403
    )
    client.force_login(people["superuser"])
    response = client.post("/api/v1/projects/", {"slug": "web", "name": "Web"}, content_type="application/json")
    assert response.status_code == 201
    assert Membership.objects.get(project__slug="web").user == people["superuser"]


def test_the_last_owner_cannot_leave(client, people, project):
    client.force_login(people["owner"])
    mine = Membership.objects.get(project=project, user=people["owner"])
    response = client.patch(f"/api/v1/memberships/{mine.pk}/", {"role": "viewer"}, content_type="application/json")
    assert response.status_code == 400
    assert "owner" in response.content.decode()
    assert client.delete(f"/api/v1/memberships/{mine.pk}/").status_code == 400
    viewer = Membership.objects.get(project=project, user=people["viewer"])
    assert (
        client.patch(
            f"/api/v1/memberships/{viewer.pk}/", {"role": "operator"}, content_type="application/json"
        ).status_code
        == 200
    )
    assert client.delete(f"/api/v1/memberships/{viewer.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=viewer.pk).exists()


def test_tokens_endpoint_shows_the_key_once(client, people):
    user = people["viewer"]
    client.force_login(user)
    created = client.post("/api/v1/tokens/", {"name": "ci", "read_only": True}, content_type="application/json")
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("afk_")
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ci"]
    assert "key" not in listed[0]
    assert client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    other = people["operator"]
    client.force_login(other)
    assert client.get("/api/v1/tokens/").json()["results"] == []
    assert client.delete(f"/api/v1/tokens/{listed[0]['id']}/").status_code == 404
    client.force_login(user)
    assert client.delete(f"/api/v1/tokens/{listed[0]['id']}/").status_code == 204
    assert ApiToken.objects.get(pk=listed[0]["id"]).status == "revoked"
    assert client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_teams_are_managed_by_superusers_and_seen_by_members(client, people):
    member = people["viewer"]
    team = TeamFactory(slug="web-team", members=[member])
    client.force_login(member)
    assert [t["slug"] for t in client.get("/api/v1/teams/").json()["results"]] == ["web-team"]
    assert client.patch("/api/v1/teams/web-team/", {"name": "x"}, content_type="application/json").status_code == 403
    client.force_login(people["outsider"])
    assert client.get("/api/v1/teams/web-team/").status_code == 404
    client.force_login(people["superuser"])
    response = client.post(
        "/api/v1/teams/", {"slug": "ops", "name": "Ops", "members": ["outsider"]}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert list(Team.objects.get(slug="ops").members.values_list("username", flat=True)) == ["outsider"]
    assert team.pk


def test_audit_events_are_read_only_and_filterable(client, people, project):
    other = ProjectFactory(slug="other")
    actor = people["owner"]
    audit_record(actor=actor, verb="credential.create", target=project)
    audit_record(actor=people["viewer"], verb="membership.update", project=project)
    audit_record(actor=actor, verb="credential.create", target=other)
    client.force_login(people["maintainer"])

    def verbs(query: str = "") -> list[str]:
        response = client.get(f"/api/v1/audit-events/{query}")
        assert response.status_code == 200, response.content
        return [e["verb"] for e in response.json()["results"]]

    assert sorted(verbs()) == ["credential.create", "membership.update"]  # not the other project's
    assert verbs(f"?actor={actor.username}") == ["credential.create"]
    assert verbs(f"?actor={actor.pk}") == ["credential.create"]
    assert verbs("?verb=membership.") == ["membership.update"]
    assert verbs("?target_type=accounts.project") == ["credential.create"]
    assert verbs("?project=shop&verb=credential.create") == ["credential.create"]
    assert verbs("?until=2000-01-01T00:00:00Z") == []
    assert (
        len(verbs(f"?since={(timezone.now() - timezone.timedelta(minutes=5)).isoformat().replace('+00:00', 'Z')}")) == 2
    )
    assert client.get("/api/v1/audit-events/?since=yesterday").status_code == 400
    event_id = AuditEvent.objects.filter(project=project).first().pk
    assert client.delete(f"/api/v1/audit-events/{event_id}/").status_code == 405
    assert client.post("/api/v1/audit-events/", {}).status_code == 405
    client.force_login(people["operator"])
    assert client.get("/api/v1/audit-events/").json()["results"] == []


@pytest.mark.parametrize("url", ["/api/v1/projects/", "/api/v1/credentials/", "/api/v1/memberships/",
                                 "/api/v1/audit-events/", "/api/v1/tokens/", "/api/v1/teams/"])  # fmt: skip
def test_list_query_counts_stay_flat(client, django_assert_max_num_queries, url):
    user = UserFactory()
    client.force_login(user)

    def grow(n: int) -> None:
        for _ in range(n):
            project = ProjectFactory()
            make_user_with_role(project, "owner")
            from apps.accounts.services import membership_set, token_create

            membership_set(actor=user, project=project, role="owner", user=user)
            CredentialFactory(project=project)
            token_create(actor=user, user=user, name="t")
            TeamFactory(members=[user])

    grow(2)
    response = client.get(url)
    assert response.status_code == 200
    with django_assert_max_num_queries(12) as small:
        client.get(url)
    grow(6)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.json()["count"] >= 6
