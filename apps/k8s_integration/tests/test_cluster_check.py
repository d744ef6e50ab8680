"""The connectivity check against the real cluster, through the API as an operator: version and verbs for a
good credential of each kind, fewer verbs for a view-only identity, and a message naming the cause otherwise."""

from __future__ import annotations

import pytest

from ansflow.testing import free_port
from apps.accounts.models import AuditEvent
from apps.k8s_integration.models import Cluster
from apps.k8s_integration.tests.kubepki import new_ca

from .cluster import KubeCluster
from .clusterworld import make_shop

pytestmark = [pytest.mark.k8s, pytest.mark.django_db]

ALL_VERBS = ["get", "list", "watch", "create", "patch", "delete"]


@pytest.fixture
def shop():
    return make_shop()


def check(client, shop, cluster: Cluster) -> dict:
    answer = client.post(f"/api/v1/clusters/{cluster.pk}/check/", headers=shop.auth("operator"))
    assert answer.status_code == 200, answer.content
    result = answer.json()
    assert result["cluster"]["last_check_ok"] is result["ok"]
    assert result["cluster"]["last_check_message"] == result["message"]
    assert result["cluster"]["last_checked_at"]
    return result


def test_admin_token_sees_the_version_and_every_verb(client, shop, kube_cluster: KubeCluster):
    cluster = shop.cluster("kube", server=kube_cluster.server, ca=kube_cluster.ca_pem, token=kube_cluster.admin_token)
    result = check(client, shop, cluster)
    assert result["ok"] is True
    assert result["message"].startswith("Kubernetes v1.20.2 as credential kube-cred (bearer token); in default: ")
    assert "pods: get list watch create patch delete" in result["message"]
    assert "deployments: get list watch create patch delete" in result["message"]
    details = Cluster.objects.get(pk=cluster.pk).last_check_details
    assert details["version"] == "v1.20.2"
    assert details["allowed"]["secrets"] == ALL_VERBS
    assert kube_cluster.admin_token not in result["message"]
    assert AuditEvent.objects.filter(verb="cluster.check", target_id=str(cluster.pk)).count() == 1


def test_view_only_token_sees_only_the_read_verbs(client, shop, kube_cluster: KubeCluster):
    cluster = shop.cluster("kube", server=kube_cluster.server, ca=kube_cluster.ca_pem, token=kube_cluster.viewer_token)
    result = check(client, shop, cluster)
    assert result["ok"] is True
    allowed = Cluster.objects.get(pk=cluster.pk).last_check_details["allowed"]
    assert allowed["pods"] == ["get", "list", "watch"]
    assert allowed["deployments"] == ["get", "list", "watch"]
    assert allowed["pods/log"] == ["get", "list", "watch"]
    assert allowed["secrets"] == []  # the built-in view role does not read secrets
    assert "secrets: -" in result["message"]


def test_client_certificate_and_kubeconfig_credentials_work(client, shop, kube_cluster: KubeCluster):
    cert = shop.cluster("by-cert", server=kube_cluster.server, ca=kube_cluster.ca_pem, kind="client_certificate",
                        certificate=kube_cluster.client_cert_pem, key=kube_cluster.client_key_pem)  # fmt: skip
    result = check(client, shop, cert)
    assert result["ok"] is True, result["message"]
    assert "as CN=ansflow-cert-admin,O=system:masters (client certificate)" in result["message"]
    assert kube_cluster.client_key_pem.splitlines()[1] not in str(result)
    config = shop.cluster("by-kubeconfig", server="", kind="kubeconfig",
                          kubeconfig=kube_cluster.kubeconfig(kube_cluster.viewer_token))  # fmt: skip
    result = check(client, shop, config)
    assert result["ok"] is True, result["message"]
    assert "pods: get list watch, pods/log" in result["message"]


def test_a_wrong_token_is_unauthorized(client, shop, kube_cluster: KubeCluster):
    cluster = shop.cluster("kube", server=kube_cluster.server, ca=kube_cluster.ca_pem, token="not-a-real-token")
    result = check(client, shop, cluster)
    assert result["ok"] is False
    assert result["message"] == f"cluster kube ({kube_cluster.server}): unauthorized: the credential was rejected"
    listing = client.get(f"/api/v1/clusters/{cluster.pk}/resources/pods/", headers=shop.auth("viewer"))
    assert listing.status_code == 502
    assert "unauthorized" in listing.json()["detail"]


def test_a_port_nobody_listens_on_is_unreachable(client, shop, kube_cluster: KubeCluster):
    cluster = shop.cluster("kube", server=f"https://127.0.0.1:{free_port()}", ca=kube_cluster.ca_pem,
                           token=kube_cluster.admin_token)  # fmt: skip
    result = check(client, shop, cluster)
    assert result["ok"] is False
    assert result["message"] == f"cluster kube ({cluster.server}) is unreachable: [Errno 111] Connection refused"


def test_a_wrong_ca_is_a_tls_error(client, shop, kube_cluster: KubeCluster):
    other_ca = new_ca("somebody-else").cert_pem
    cluster = shop.cluster("kube", server=kube_cluster.server, ca=other_ca, token=kube_cluster.admin_token)
    result = check(client, shop, cluster)
    assert result["ok"] is False
    assert "TLS verification failed" in result["message"]
    assert "certificate verify failed" in result["message"]
    page = client.get(f"/api/v1/clusters/{cluster.pk}/resources/namespaces/", headers=shop.auth("viewer"))
    assert page.status_code == 503
    assert "TLS verification failed" in page.json()["detail"]
