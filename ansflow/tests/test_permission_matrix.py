"""One permission matrix over every URL of the pages, the admin, the REST API and the WebSockets, for every
role: anonymous, outsider (owner of another project), viewer, operator, maintainer, owner, superuser.

The routes come from the URL conf; the policy table is ``matrix_policy``. A route with no entry in its
``TABLE`` fails ``test_every_route_has_a_policy``, and so does an entry whose route is gone. The admin's
standard per-model views are checked once per registered model (``ADMIN_MODELS``, which must name every
registered model). Allowed and denied answers are both asserted; a denied write must leave its object as
it was, an allowed one must change it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from ansflow.routing import websocket_urlpatterns
from ansflow.testing import session_cookie
from apps.accounts.services import project_create, token_create
from apps.accounts.tests.factories import UserFactory, make_user_with_role
from apps.executions.services import execution_start
from apps.pipelines.services import pipeline_import

from .matrix import (
    ADMIN_LOGIN,
    LOGIN,
    PIPELINE_YAML,
    PROJECT_ROLES,
    READY,
    ROLES,
    World,
    build_world,
    grow,
    http_routes,
    make_cluster,
)
from .matrix_policy import (
    ADMIN_MODELS,
    LIST_URLS,
    REFUSED,
    SOCKETS,
    TABLE,
    Case,
)

# --- the routes all have a policy ---------------------------------------------------------------


def test_every_route_has_a_policy():
    routes = {route.key: route for route in http_routes()}
    assert sorted(set(routes) - set(TABLE)) == [], "routes without a policy in TABLE"
    assert sorted(set(TABLE) - set(routes)) == [], "TABLE entries whose route is gone"
    untried = {
        key: sorted(methods - {case.method for case in TABLE[key]})
        for key, route in routes.items()
        if (methods := route.api_methods) and methods - {case.method for case in TABLE[key]}
    }
    assert untried == {}, "API methods a route answers but the matrix never tries"
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert sorted(registered ^ set(ADMIN_MODELS)) == [], "admin models without a policy (or gone)"


# --- HTTP: pages, admin, API -------------------------------------------------------------------


def _url(key: str, case: Case, world: World) -> str:
    return (case.path or reverse(key, kwargs=case.kwargs(world))) + case.query


def _request(client: Any, world: World, method: str, url: str, role: str, case: Case | None = None) -> Any:
    headers = {}
    if role != "anonymous":
        if case is not None and case.auth == "token":
            headers["Authorization"] = f"Token {world.keys[role]}"
        else:
            client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    data = case.data(world) if case is not None and case.data else None
    fmt = case.fmt if case is not None else "form"
    if fmt == "form" and method == "POST":
        return client.post(url, data or {}, headers=headers)
    if fmt == "form":
        return client.generic(method, url, headers=headers)
    body = data if fmt == "yaml" else json.dumps(data if data is not None else {})
    content_type = "application/x-yaml" if fmt == "yaml" else "application/json"
    return client.generic(method, url, body, content_type=content_type, headers=headers)


def _answer(response: Any) -> Any:
    """The response as the table writes it: a status code, or one of the redirect/readiness sentinels."""
    location = response.get("Location", "")
    if response.status_code == 302 and location.startswith(settings.LOGIN_URL):
        return LOGIN
    if response.status_code == 302 and location.startswith(reverse("admin:login")):
        return ADMIN_LOGIN
    readiness = response.status_code in (200, 503) and response.wsgi_request.path == reverse("readyz")
    if readiness and "checks" in response.json():
        return READY
    return response.status_code


def _body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


HTTP_CASES = [
    pytest.param(key, index, role, id=f"{key}-{case.method}{index}-{role}")
    for key, cases in TABLE.items()
    for index, case in enumerate(cases)
    for role in ROLES
]


@pytest.fixture(scope="class")
def world(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """One world for the whole class, inside a transaction that is rolled back at the end (each test rolls
    back its own writes to a savepoint)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.mark.django_db
class TestHttpMatrix:
    @pytest.mark.parametrize(("key", "index", "role"), HTTP_CASES)
    def test_route(self, client, world, key, index, role):
        case = TABLE[key][index]
        expected = case.expect[role]
        before = case.state(world) if case.state else None
        response = _request(client, world, case.method, _url(key, case, world), role, case)
        body = _body(response)
        assert _answer(response) == expected, body[:500]
        if case.shows and response.status_code == 200:
            text, roles = case.shows
            assert (text(world) in body) is (role in roles), f"{text(world)!r} shown to {role}: {role in roles}"
        if case.state:
            changed = case.state(world) != before
            assert changed is (expected == case.ok and case.writes), f"state changed: {changed}"

    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize("label", sorted(ADMIN_MODELS))
    def test_admin_model(self, client, world, label, role):
        policy = ADMIN_MODELS[label]
        model = next(m for m in admin.site._registry if m._meta.label_lower == label)
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"

        def get(url: str, method: str = "GET") -> Any:
            return _answer(_request(client, world, method, url, role))

        if role == "anonymous":
            assert get(base) == ADMIN_LOGIN
            return
        if policy.django:
            assert get(base) == (200 if role == "superuser" else 403)
            return
        listing = _request(client, world, "GET", base, role)
        assert listing.status_code == 200
        target = world.admin_objects()[model]
        url = f"{base}{target.pk}/"
        assert (f'href="{url}change/' in _body(listing)) is (role in policy.view)
        hidden = 302  # an object outside the user's queryset: sent back to the admin index
        assert get(f"{url}change/") == (200 if role in policy.view else hidden)
        assert get(f"{url}history/") == (200 if role in policy.view else hidden)
        deletes = 200 if role in policy.delete else 403 if role in policy.view else policy.hidden_delete
        assert get(f"{url}delete/") == deletes
        assert get(f"{base}add/") == (policy.add_ok if role in policy.add else 403)
        deleted = role in policy.delete and not policy.protected
        response = client.post(f"{url}delete/", {"post": "yes"})
        assert response.status_code == (302 if deleted else deletes)
        assert model._default_manager.filter(pk=target.pk).exists() is not deleted

    def test_admin_needs_staff(self, client, world):
        """Staff status opens the admin door; a project owner without it is sent to sign in."""
        owner = world.users["owner"]
        type(owner).objects.filter(pk=owner.pk).update(is_staff=False)
        for url in [
            "/admin/",
            "/admin/accounts/credential/",
            f"/admin/accounts/credential/{world.credential.pk}/change/",
        ]:
            assert _answer(_request(client, world, "GET", url, "owner")) == ADMIN_LOGIN, url
        response = _request(client, world, "POST", "/api/v1/health/echo/", "owner")
        assert response.status_code == 403

    def test_credential_secrets_never_reach_an_admin_page(self, client, world):
        url = f"/admin/accounts/credential/{world.credential.pk}/change/"
        for role in ("viewer", "maintainer", "superuser"):
            body = _body(_request(client, world, "GET", url, role))
            assert "orchard-registry-login" in body
            assert "s3cret-Passw0rd" not in body, role

    @pytest.mark.parametrize("url", LIST_URLS)
    def test_list_query_count_does_not_grow_with_rows(self, client, world, url):
        """Lists the per-app tests do not count yet: the same number of queries for 1 row as for 4 more."""
        url = url.format(project=world.project.slug, pipeline=world.pipeline.pk)
        case = Case("GET", {}, 200, auth="token" if url.startswith("/api/") else "session")

        def queries() -> int:
            _request(client, world, "GET", url, "owner", case)  # warm: sessions and token use are written once
            with CaptureQueriesContext(connection) as captured:
                assert _request(client, world, "GET", url, "owner", case).status_code == 200
            return len(captured)

        few = queries()
        grow(world, 4)
        assert queries() == few


# --- WebSockets ---------------------------------------------------------------------------------


def socket_answer(url: str, headers: dict[str, str]) -> Any:
    """The first message's kind (or type), the close code, or the handshake's HTTP refusal."""
    try:
        with connect(url, additional_headers=headers, open_timeout=30, close_timeout=0.2) as ws:
            try:
                message = json.loads(ws.recv(timeout=30))
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            return message.get("kind") or message["type"]
    except InvalidStatus as refused:
        return f"HTTP {refused.response.status_code}"


def test_every_socket_route_has_a_policy():
    assert sorted(str(route.pattern) for route in websocket_urlpatterns) == sorted(SOCKETS)


@pytest.mark.django_db(transaction=True)
def test_socket_matrix(asgi_server):
    """Every socket route x every role, by session cookie and by API token; a bad token is refused at the
    handshake whatever the route."""
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    project = project_create(actor=root, slug="orchard", name="Orchard Works")
    elsewhere = project_create(actor=root, slug="elsewhere", name="Elsewhere")
    users = {"superuser": root, "outsider": make_user_with_role(elsewhere, "owner", username="outsider")}
    users |= {role: make_user_with_role(project, role, username=role) for role in PROJECT_ROLES}
    imported = pipeline_import(actor=root, project=project, yaml_text=PIPELINE_YAML.format(name="deploy-orchard"))
    make_cluster(root, project, "kube")  # for the pod log socket
    run = execution_start(actor=root, pipeline=imported.pipeline)  # waits at its gate: nothing is queued
    cookies = {role: session_cookie(user) for role, user in users.items()}
    keys = {role: token_create(actor=user, user=user, name="ws")[1] for role, user in users.items()}
    actual, wanted = {}, {}
    for route, (path, expected) in SOCKETS.items():
        url = asgi_server.ws_url + path(run)
        joiner = "&" if "?" in url else "?"
        for role in ROLES:
            cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookies[role]}"} if role in cookies else {}
            actual[(route, role, "cookie")] = socket_answer(url, cookie)
            wanted[(route, role, "cookie")] = expected[role]
            if role in keys:
                actual[(route, role, "token")] = socket_answer(f"{url}{joiner}token={keys[role]}", {})
                wanted[(route, role, "token")] = expected[role]
        actual[(route, "bad token", "token")] = socket_answer(f"{url}{joiner}token=not-a-key", cookie)
        wanted[(route, "bad token", "token")] = REFUSED
    assert actual == wanted
