"""WebSocket authentication by session cookie or token, and the authorize_ws helper."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ansflow.testing import session_cookie
from apps.accounts.models import ApiToken
from apps.accounts.permissions import attach_token, authorize_ws
from apps.accounts.services import token_create, token_revoke

from .factories import ProjectFactory, UserFactory, make_user_with_role


def receive_json(ws) -> dict:
    return json.loads(ws.recv(timeout=30))


def ping_through_celery(ws) -> dict:
    """The health socket pings through Celery only for a signed-in user; anyone else gets an error."""
    assert receive_json(ws)["type"] == "hello"
    ws.send(json.dumps({"type": "ping", "nonce": "n", "via": "celery"}))
    return receive_json(ws)


@pytest.mark.django_db(transaction=True)
def test_token_in_query_or_header_authenticates_the_socket(asgi_server, celery_worker):
    user = UserFactory(username="wsuser")
    _, key = token_create(actor=None, user=user, name="ws")
    with connect(f"{asgi_server.ws_url}/ws/health/?token={key}") as ws:
        assert ping_through_celery(ws)["type"] == "pong"
    with connect(f"{asgi_server.ws_url}/ws/health/", additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        assert ping_through_celery(ws)["type"] == "pong"
    with connect(f"{asgi_server.ws_url}/ws/health/") as ws:
        assert ping_through_celery(ws) == {"type": "error", "error": "sign in to ping through Celery"}
    cookie = session_cookie(user)
    with connect(f"{asgi_server.ws_url}/ws/health/", additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
        assert ping_through_celery(ws)["type"] == "pong"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("state", ["expired", "revoked", "unknown"])
def test_expired_revoked_or_unknown_token_is_refused_at_the_handshake(asgi_server, state):
    user = UserFactory(username=f"ws-{state}")
    token, key = token_create(actor=None, user=user, name="ws")
    if state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        token_revoke(actor=user, token=token)
    else:
        key = key[:-4] + "zzzz"
    by_query = {"uri": f"{asgi_server.ws_url}/ws/health/?token={key}"}
    by_header = {"uri": f"{asgi_server.ws_url}/ws/health/", "additional_headers": {"Authorization": f"Token {key}"}}
    for kwargs in (by_query, by_header):
        with pytest.raises(InvalidStatus) as excinfo, connect(**kwargs):
            pass
        assert excinfo.value.response.status_code == 403


# database_sync_to_async closes the connection afterwards, which a test transaction would not survive.
@pytest.mark.django_db(transaction=True)
def test_authorize_ws_codes():
    project = ProjectFactory(slug="ws-project")
    viewer = make_user_with_role(project, "viewer")
    operator = make_user_with_role(project, "operator")
    outsider = UserFactory()

    def decide(user, action="change", lookup=lambda: project):
        found, refused = async_to_sync(authorize_ws)({"user": user}, action, lookup)
        assert (found is project) == (refused is None)  # the object only when allowed
        return refused

    assert decide(AnonymousUser()) == 4401
    assert decide(None) == 4401
    assert decide(outsider) == 4404
    assert decide(viewer) == 4403
    assert decide(viewer, "view") is None
    assert decide(UserFactory(is_superuser=True)) is None
    assert decide(operator, "manage_members") == 4403
    assert decide(viewer, "view", lookup=lambda: None) == 4404  # nothing there
    # A token revoked after the handshake stops authorising the open socket's next check.
    token, _ = token_create(actor=None, user=viewer, name="t")
    through_token = attach_token(viewer, token)
    assert decide(through_token, "view") is None
    token_revoke(actor=viewer, token=ApiToken.objects.get(pk=token.pk))
    assert decide(through_token, "view") == 4401
