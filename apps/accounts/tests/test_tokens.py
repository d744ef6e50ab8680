"""API tokens over HTTP: Token and Bearer headers, read-only, project scope, expiry, revocation."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.accounts.models import ApiToken, AuditEvent, Credential, Project
from apps.accounts.services import token_create, token_revoke

from .factories import ProjectFactory, make_token, make_user_with_role

pytestmark = pytest.mark.django_db


def auth(key: str, scheme: str = "Token") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"{scheme} {key}"}


@pytest.fixture
def maintainer(project):
    return make_user_with_role(project, "maintainer", username="maint")


def credential_body(project) -> dict:
    return {"project": project.slug, "name": "reg", "kind": "bearer_token", "fields": {"token": "t0k3n-value"}}


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token", "bearer"])
def test_token_and_bearer_headers_authenticate(client, maintainer, project, scheme):
    response = client.get("/api/v1/projects/", **auth(make_token(maintainer), scheme))
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["results"]] == [project.slug]


def test_only_the_hash_is_stored_and_last_use_is_recorded(client, maintainer):
    token, key = token_create(actor=None, user=maintainer, name="ci")
    assert key.startswith("afk_")
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in repr(row)
    assert row["lookup"] == key[:12]
    assert row["last_used_at"] is None
    client.get("/api/v1/projects/", **auth(key))
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_a_token_write_is_allowed_and_audited_with_the_token(client, maintainer, project):
    token, key = token_create(actor=None, user=maintainer, name="deployer")
    response = client.post(
        "/api/v1/credentials/", credential_body(project), content_type="application/json", **auth(key)
    )
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(verb="credential.create")
    assert event.actor_user == maintainer
    assert event.actor_token == token


def test_read_only_token_cannot_write(client, maintainer, project):
    key = make_token(maintainer, read_only=True)
    assert client.get("/api/v1/credentials/", **auth(key)).status_code == 200
    response = client.post(
        "/api/v1/credentials/", credential_body(project), content_type="application/json", **auth(key)
    )
    assert response.status_code == 403
    response = client.patch(
        f"/api/v1/projects/{project.slug}/", {"name": "x"}, content_type="application/json", **auth(key)
    )
    assert response.status_code == 403
    assert not Credential.objects.exists()
    assert Project.objects.get(pk=project.pk).name != "x"


def test_project_scoped_token_sees_only_its_project(client, project):
    other = ProjectFactory(slug="other")
    user = make_user_with_role(project, "owner", username="multi")
    make_user_with_role(other, None)
    from apps.accounts.services import membership_set

    membership_set(actor=None, project=other, role="owner", user=user)
    key = make_token(user, project=project)
    slugs = [p["slug"] for p in client.get("/api/v1/projects/", **auth(key)).json()["results"]]
    assert slugs == [project.slug]
    assert client.get(f"/api/v1/projects/{other.slug}/", **auth(key)).status_code == 404


@pytest.mark.parametrize("state", ["expired", "revoked", "unknown", "malformed"])
def test_expired_revoked_and_unknown_tokens_are_refused(client, maintainer, state):
    token, key = token_create(actor=None, user=maintainer, name="t")
    if state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        token_revoke(actor=maintainer, token=token)
    elif state == "unknown":
        key = key[:12] + "x" * (len(key) - 12)
    response = client.get(
        "/api/v1/projects/", HTTP_AUTHORIZATION="Token a b" if state == "malformed" else f"Token {key}"
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_inactive_users_tokens_are_refused(client, maintainer):
    key = make_token(maintainer)
    maintainer.is_active = False
    maintainer.save()
    assert client.get("/api/v1/projects/", **auth(key)).status_code == 401


def test_a_token_cannot_create_or_revoke_tokens(client, maintainer):
    token, key = token_create(actor=None, user=maintainer, name="t")
    response = client.post("/api/v1/tokens/", {"name": "more"}, content_type="application/json", **auth(key))
    assert response.status_code == 403
    assert client.delete(f"/api/v1/tokens/{token.pk}/", **auth(key)).status_code == 403
    assert ApiToken.objects.filter(user=maintainer).count() == 1


def test_create_api_token_command(client, maintainer, project):
    out = io.StringIO()
    call_command("create_api_token", "maint", "--name", "cli", "--project", project.slug, "--read-only", stdout=out)
    key = out.getvalue().strip()
    token = ApiToken.objects.get(user=maintainer, name="cli")
    assert (token.project, token.read_only, token.expires_at) == (project, True, None)
    assert client.get("/api/v1/projects/", **auth(key)).status_code == 200
    assert AuditEvent.objects.filter(verb="token.create", actor_repr="system").exists()
    out = io.StringIO()
    call_command("create_api_token", "maint", "--expires-in", "3", stdout=out)
    assert ApiToken.objects.filter(user=maintainer, expires_at__isnull=False).count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghost"], "No user 'ghost'"),
        (["maint", "--project", "nope"], "No project 'nope'"),
        (["maint", "--expires-in", "0"], "positive"),
        (["maint", "--name", "  "], "needs a name"),
    ],
)
def test_create_api_token_command_errors(maintainer, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", *args, stdout=io.StringIO())
    assert not ApiToken.objects.exists()
