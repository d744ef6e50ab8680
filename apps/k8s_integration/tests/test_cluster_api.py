"""The clusters API without a cluster: CRUD and its validation, what answers show (never a secret), who may do
what, and how a cluster that refuses connections is reported (503 with the cause, never a 500)."""

from __future__ import annotations

import json

import pytest

from ansflow.testing import free_port
from apps.accounts.models import AuditEvent, Project
from apps.accounts.services import credential_create
from apps.k8s_integration.models import Cluster

from .clusterworld import make_shop

pytestmark = pytest.mark.django_db

TOKEN = "kube-t0ken-never-shown"


@pytest.fixture
def shop():
    return make_shop()


@pytest.fixture
def refusing(shop):
    """A cluster whose API server address refuses connections (nothing listens on the port)."""
    return shop.cluster("refusing", server=f"https://127.0.0.1:{free_port()}", token=TOKEN)


def post(client, url, data, headers):
    return client.post(url, json.dumps(data), content_type="application/json", headers=headers)


def patch(client, url, data, headers):
    return client.patch(url, json.dumps(data), content_type="application/json", headers=headers)


def test_maintainer_creates_changes_and_deletes_a_cluster(client, shop):
    token = credential_create(actor=shop.root, project=shop.project, name="kube-token", kind="bearer_token",
                              fields={"token": TOKEN})  # fmt: skip
    body = {"project": "shop", "name": "staging", "environment": "staging", "server": "https://127.0.0.1:6443",
            "credential": token.pk, "default_namespace": "web"}  # fmt: skip
    created = post(client, "/api/v1/clusters/", body, shop.auth("maintainer"))
    assert created.status_code == 201, created.content
    answer = created.json()
    assert {key: answer[key] for key in ("project", "name", "environment", "credential_name", "credential_kind")} == {
        "project": "shop",
        "name": "staging",
        "environment": "staging",
        "credential_name": "kube-token",
        "credential_kind": "bearer_token",
    }
    assert answer["last_check_ok"] is None
    assert answer["user_capabilities"] == {"view": True, "use": True, "add": True, "change": True, "delete": True,
                                           "check": True}  # fmt: skip
    url = f"/api/v1/clusters/{answer['id']}/"
    changed = patch(client, url, {"environment": "prod", "description": "the shop"}, shop.auth("maintainer"))
    assert changed.status_code == 200, changed.content
    assert (changed.json()["environment"], changed.json()["description"]) == ("prod", "the shop")
    listed = client.get("/api/v1/clusters/?environment=prod", headers=shop.auth("viewer")).json()
    assert [row["name"] for row in listed["results"]] == ["staging"]
    assert listed["results"][0]["user_capabilities"]["change"] is False
    for response in (created, changed, client.get(url, headers=shop.auth("viewer"))):
        assert TOKEN not in response.content.decode()
    assert client.delete(url, headers=shop.auth("maintainer")).status_code == 204
    assert not Cluster.objects.filter(name="staging").exists()
    verbs = list(AuditEvent.objects.filter(verb__startswith="cluster.").order_by("pk").values_list("verb", flat=True))
    assert verbs == ["cluster.create", "cluster.update", "cluster.delete"]


def test_credential_must_be_a_cluster_credential_of_the_same_project(client, shop):
    elsewhere = Project.objects.get(slug="elsewhere")
    foreign = credential_create(actor=shop.root, project=elsewhere, name="theirs", kind="bearer_token",
                                fields={"token": "t"})  # fmt: skip
    password = credential_create(actor=shop.root, project=shop.project, name="login", kind="username_password",
                                 fields={"username": "u", "password": "p"})  # fmt: skip
    token = credential_create(actor=shop.root, project=shop.project, name="tok", kind="bearer_token",
                              fields={"token": "t"})  # fmt: skip
    base = {"project": "shop", "name": "c1", "server": "https://127.0.0.1:6443"}
    cases = [
        # A credential the caller cannot see does not exist, as far as they know.
        ({**base, "credential": foreign.pk}, "superuser", "another project"),
        ({**base, "credential": foreign.pk}, "maintainer", "does not exist"),
        ({**base, "credential": password.pk}, "maintainer", "not username_password"),
        ({**base, "credential": token.pk, "server": "http://127.0.0.1:6443"}, "maintainer", "https://"),
        ({**base, "credential": token.pk, "server": ""}, "maintainer", "server URL is required"),
        ({**base, "credential": token.pk, "default_namespace": "Not_A_Namespace"}, "maintainer", "namespace"),
        ({**base, "credential": token.pk, "environment": "moon"}, "maintainer", "not a valid choice"),
    ]
    for body, role, message in cases:
        answer = post(client, "/api/v1/clusters/", body, shop.auth(role))
        assert answer.status_code == 400, (body, answer.content)
        assert message in json.dumps(answer.json()), (message, answer.json())
    assert not Cluster.objects.exists()
    cluster = shop.cluster("c2", server="https://127.0.0.1:6443", token="t")
    moved = patch(client, f"/api/v1/clusters/{cluster.pk}/", {"credential": password.pk}, shop.auth("maintainer"))
    assert moved.status_code == 400
    assert Cluster.objects.get(pk=cluster.pk).credential.name == "c2-cred"


def test_roles_below_maintainer_may_not_change_clusters(client, shop, refusing):
    url = f"/api/v1/clusters/{refusing.pk}/"
    body = {"project": "shop", "name": "new", "server": "https://127.0.0.1:1", "credential": refusing.credential_id}
    for role in ("viewer", "operator"):
        assert post(client, "/api/v1/clusters/", body, shop.auth(role)).status_code == 403
        assert patch(client, url, {"description": "x"}, shop.auth(role)).status_code == 403
        assert client.delete(url, headers=shop.auth(role)).status_code == 403
        scale = post(client, f"{url}deployments/default/web/scale/", {"replicas": 3}, shop.auth(role))
        assert scale.status_code == 403
        assert client.delete(f"{url}pods/default/web-0/", headers=shop.auth(role)).status_code == 403
    assert post(client, f"{url}check/", {}, shop.auth("viewer")).status_code == 403
    assert client.get(url, headers=shop.auth("outsider")).status_code == 404
    assert Cluster.objects.get(pk=refusing.pk).description == ""


def test_a_cluster_that_refuses_connections_is_a_503_naming_the_cause(client, shop, refusing):
    url = f"/api/v1/clusters/{refusing.pk}/"
    for method, path, role in [
        ("get", "resources/pods/", "viewer"),
        ("get", "resources/nodes/?limit=5", "viewer"),
        ("get", "pods/default/web-0/logs/?tail=5", "viewer"),
        ("post", "deployments/default/web/scale/", "maintainer"),
        ("post", "deployments/default/web/restart/", "maintainer"),
        ("delete", "pods/default/web-0/", "maintainer"),
    ]:
        if method == "post":
            answer = post(client, url + path, {"replicas": 2}, shop.auth(role))
        else:
            answer = getattr(client, method)(url + path, headers=shop.auth(role))
        assert answer.status_code == 503, (path, answer.content)
        assert "cluster refusing" in answer.json()["detail"]
        assert "is unreachable" in answer.json()["detail"]
        assert answer.json()["cluster_status"] is None
    assert not AuditEvent.objects.filter(verb__in=["cluster.deployment_scale", "cluster.pod_delete"]).exists()
    checked = post(client, f"{url}check/", {}, shop.auth("operator"))
    assert checked.status_code == 200
    assert checked.json()["ok"] is False
    assert "is unreachable" in checked.json()["message"]
    assert checked.json()["cluster"]["last_check_ok"] is False
    assert Cluster.objects.get(pk=refusing.pk).last_checked_at is not None
    assert AuditEvent.objects.filter(verb="cluster.check", actor_user=shop.users["operator"]).count() == 1


def test_bad_browser_queries_are_refused_before_the_cluster_is_asked(client, shop, refusing):
    url = f"/api/v1/clusters/{refusing.pk}/"
    viewer, maintainer = shop.auth("viewer"), shop.auth("maintainer")
    unknown = client.get(f"{url}resources/widgets/", headers=viewer)
    assert unknown.status_code == 404
    assert "one of namespaces, deployments, pods" in unknown.json()["detail"]
    for query, field in [("limit=0", "limit"), ("limit=501", "limit"), ("namespace=Bad_NS", "namespace"),
                         ("label_selector=" + "a" * 1001, "label_selector")]:  # fmt: skip
        answer = client.get(f"{url}resources/pods/?{query}", headers=viewer)
        assert answer.status_code == 400, (query, answer.content)
        assert field in answer.json()["errors"]
    for replicas in (-1, 1001, "many"):
        answer = post(client, f"{url}deployments/default/web/scale/", {"replicas": replicas}, maintainer)
        assert answer.status_code == 400
        assert "replicas" in answer.json()["errors"]
    assert client.get(f"{url}pods/default/web-0/logs/?tail=99999", headers=viewer).status_code == 400


def test_the_schema_documents_the_clusters_api(client):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in [
        "/api/v1/clusters/",
        "/api/v1/clusters/{id}/",
        "/api/v1/clusters/{id}/check/",
        "/api/v1/clusters/{id}/resources/{kind}/",
        "/api/v1/clusters/{id}/deployments/{namespace}/{name}/scale/",
        "/api/v1/clusters/{id}/deployments/{namespace}/{name}/restart/",
        "/api/v1/clusters/{id}/pods/{namespace}/{name}/",
        "/api/v1/clusters/{id}/pods/{namespace}/{name}/logs/",
    ]:
        assert path in paths, sorted(p for p in paths if "cluster" in p)
    resources = paths["/api/v1/clusters/{id}/resources/{kind}/"]["get"]
    assert {"502", "503", "200"} <= set(resources["responses"])
    names = {parameter["name"] for parameter in resources["parameters"]}
    assert {"namespace", "all_namespaces", "label_selector", "limit", "continue", "kind"} <= names
