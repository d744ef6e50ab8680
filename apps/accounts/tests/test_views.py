"""Pages: my tokens and project members, per role."""

from __future__ import annotations

import pytest

from apps.accounts.models import ApiToken, Membership

from .conftest import ROLES
from .factories import UserFactory, make_token

pytestmark = pytest.mark.django_db


def test_tokens_page_requires_sign_in(client):
    response = client.get("/accounts/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_create_a_token_on_the_page_shows_the_key_once(client, people, project):
    user = people["viewer"]
    client.force_login(user)
    page = client.get("/accounts/tokens/")
    assert page.status_code == 200
    assert b"No tokens yet." in page.content
    response = client.post("/accounts/tokens/", {"name": "laptop", "project": project.slug, "read_only": "on"})
    assert response.status_code == 201
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    key = response.context["new_key"]
    assert key.encode() in response.content
    token = ApiToken.objects.get(user=user)
    assert (token.name, token.project, token.read_only) == ("laptop", project, True)
    again = client.get("/accounts/tokens/")
    assert key.encode() not in again.content
    assert token.lookup.encode() in again.content


def test_token_form_errors_and_foreign_projects(client, people, project):
    client.force_login(people["outsider"])
    response = client.post("/accounts/tokens/", {"name": "x", "project": project.slug})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()
    assert client.post("/accounts/tokens/", {"name": ""}).status_code == 400


def test_revoke_only_my_own_tokens(client, people):
    mine, theirs = people["viewer"], people["operator"]
    make_token(mine)
    make_token(theirs)
    client.force_login(mine)
    their_token = ApiToken.objects.get(user=theirs)
    assert client.post(f"/accounts/tokens/{their_token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=their_token.pk).status == "active"
    my_token = ApiToken.objects.get(user=mine)
    assert client.get(f"/accounts/tokens/{my_token.pk}/revoke/").status_code == 405
    assert client.post(f"/accounts/tokens/{my_token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get(pk=my_token.pk).status == "revoked"


# role -> (GET status, can manage)
MEMBERS_PAGE = {
    "outsider": (404, False),
    "viewer": (200, False),
    "operator": (200, False),
    "maintainer": (200, False),
    "owner": (200, True),
    "superuser": (200, True),
}


@pytest.mark.parametrize("role_name", ROLES)
def test_members_page_matrix(client, people, project, role_name):
    url = f"/projects/{project.slug}/members/"
    user = people[role_name]
    newcomer = UserFactory(username="newcomer")
    if role_name == "anonymous":
        assert client.get(url).status_code == 302
        assert client.post(url, {"username": "newcomer", "role": "viewer"}).status_code == 302
        assert not Membership.objects.filter(user=newcomer).exists()
        return
    client.force_login(user)
    status, can_manage = MEMBERS_PAGE[role_name]
    response = client.get(url)
    assert response.status_code == status
    if status == 200:
        assert b"maintainer" in response.content
        assert (b"Add a member" in response.content) is can_manage
    response = client.post(url, {"username": "newcomer", "role": "operator"})
    assert response.status_code == (302 if can_manage else status if status == 404 else 403)
    assert Membership.objects.filter(user=newcomer, role="operator").exists() is can_manage


def test_owner_changes_and_removes_members_but_not_the_last_owner(client, people, project):
    client.force_login(people["owner"])
    url = f"/projects/{project.slug}/members/"
    assert client.post(url, {"username": "viewer", "role": "maintainer"}).status_code == 302
    assert Membership.objects.get(project=project, user=people["viewer"]).role == "maintainer"
    bad = client.post(url, {"username": "ghost", "role": "viewer"})
    assert bad.status_code == 400
    assert b"No active user" in bad.content
    assert client.post(url, {"username": "viewer", "team": "x", "role": "viewer"}).status_code == 400
    mine = Membership.objects.get(project=project, user=people["owner"])
    response = client.post(url, {"remove": mine.pk})
    assert response.status_code == 400
    assert b"at least one owner" in response.content
    operator = Membership.objects.get(project=project, user=people["operator"])
    assert client.post(url, {"remove": operator.pk}).status_code == 302
    assert not Membership.objects.filter(pk=operator.pk).exists()
