"""Cluster pages without a cluster: the project's clusters list (environment, last check, "check now" for
operators), the browser of a cluster that refuses connections (its error, never a 500), the actions' permission
checks, and the links from the project page and the admin."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ansflow.testing import free_port
from apps.accounts.models import AuditEvent
from apps.k8s_integration.models import Cluster

from .clusterworld import make_shop

pytestmark = pytest.mark.django_db

TOKEN = "kube-t0ken-never-shown"


@pytest.fixture
def shop():
    return make_shop()


@pytest.fixture
def refusing(shop):
    cluster = shop.cluster("refusing", server=f"https://127.0.0.1:{free_port()}", token=TOKEN)
    Cluster.objects.filter(pk=cluster.pk).update(environment="prod")
    return Cluster.objects.get(pk=cluster.pk)


def test_clusters_list_shows_environment_server_and_last_check(client, shop, refusing):
    Cluster.objects.filter(pk=refusing.pk).update(
        last_checked_at=timezone.now(), last_check_ok=True, last_check_message="Kubernetes v1.20.2 as someone"
    )
    shop.cluster("dev-box", server="https://127.0.0.1:6443", token="t")
    for role in ("viewer", "operator"):
        client.force_login(shop.users[role])
        body = client.get("/projects/shop/clusters/").content.decode()
        assert 'class="badge env env-prod">Production<' in body
        assert 'class="badge env env-dev">Development<' in body
        assert f"https://127.0.0.1:{refusing.server.rsplit(':', 1)[1]}" in body
        assert "Kubernetes v1.20.2 as someone" in body
        assert "never checked" in body  # dev-box
        assert ('data-check="refusing"' in body) is (role == "operator")
        assert TOKEN not in body
    client.force_login(shop.users["outsider"])
    assert client.get("/projects/shop/clusters/").status_code == 404


def test_check_now_records_the_result_and_goes_back(client, shop, refusing):
    client.force_login(shop.users["operator"])
    back = "/projects/shop/clusters/"
    answer = client.post(f"/projects/shop/clusters/{refusing.name}/check/", {"next": back})
    assert answer.status_code == 302
    assert answer["Location"] == back
    cluster = Cluster.objects.get(pk=refusing.pk)
    assert cluster.last_check_ok is False
    assert "is unreachable" in cluster.last_check_message
    body = client.get(back).content.decode()
    assert "is unreachable" in body  # the flashed message and the last check's message
    offsite = client.post(f"/projects/shop/clusters/{refusing.name}/check/", {"next": "https://evil.example/"})
    assert offsite["Location"] == f"/projects/shop/clusters/{refusing.name}/"
    client.force_login(shop.users["viewer"])
    assert client.post(f"/projects/shop/clusters/{refusing.name}/check/").status_code == 403


def test_browser_of_a_refusing_cluster_shows_the_error(client, shop, refusing):
    client.force_login(shop.users["viewer"])
    base = f"/projects/shop/clusters/{refusing.name}/"
    for query in ("", "?kind=pods", "?kind=nodes", "?kind=secrets&all_namespaces=on", "?kind=events&namespace=web"):
        answer = client.get(base + query)
        assert answer.status_code == 200, query
        body = answer.content.decode()
        assert 'id="cluster-error"' in body
        assert "is unreachable" in body
        assert 'data-scale="' not in body
    for query, message in [("?kind=widgets", "kind:"), ("?namespace=Bad_NS", "namespace:")]:
        body = client.get(base + query).content.decode()
        assert message in body, query
        assert "is unreachable" not in body  # refused before the cluster is asked
    partial = client.get(base + "?kind=pods", headers={"HX-Request": "true"}).content.decode()
    assert partial.startswith('<div id="resources" data-kind="pods">')
    log = client.get(f"{base}pods/default/web-0/logs/?tail=20")
    assert log.status_code == 200
    assert "is unreachable" in log.content.decode()


def test_actions_need_the_maintainer_role_and_report_cluster_errors(client, shop, refusing):
    base = f"/projects/shop/clusters/{refusing.name}/"
    actions = [
        (f"{base}deployments/default/web/scale/", {"replicas": "3"}),
        (f"{base}deployments/default/web/restart/", {}),
        (f"{base}pods/default/web-0/delete/", {}),
    ]
    for role in ("viewer", "operator"):
        client.force_login(shop.users[role])
        for url, data in actions:
            assert client.post(url, data).status_code == 403, (role, url)
    client.force_login(shop.users["maintainer"])
    for url, data in actions:
        answer = client.post(url, data, follow=True)
        assert answer.redirect_chain[-1][1] == 302
        assert "is unreachable" in answer.content.decode()
    answer = client.post(actions[0][0], {"replicas": "lots"}, follow=True)
    assert "Replicas: a whole number" in answer.content.decode()
    assert client.get(actions[0][0]).status_code == 405
    assert not AuditEvent.objects.filter(verb__startswith="cluster.deployment").exists()


def test_project_page_and_admin_link_to_the_clusters(client, shop, refusing):
    client.force_login(shop.users["viewer"])
    assert 'href="/projects/shop/clusters/"' in client.get("/projects/shop/").content.decode()
    client.force_login(shop.users["maintainer"])
    body = client.get(f"/admin/k8s_integration/cluster/{refusing.pk}/change/").content.decode()
    assert f'href="/projects/shop/clusters/{refusing.name}/" id="cluster-browser"' in body
    assert TOKEN not in body
