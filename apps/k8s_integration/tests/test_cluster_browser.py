"""The resource browser against the real cluster: every kind listed, filtered and paged by the server through
the API and the pages; secrets by their keys only; scale, restart and delete-pod done and audited; roles and the
cluster's own RBAC both enforced."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from ansflow.testing import wait_until
from apps.accounts.models import AuditEvent

from .cluster import KubeCluster
from .clusterworld import deployment, make_shop, pod, pod_phase, wait_rolled_out

pytestmark = [pytest.mark.k8s, pytest.mark.django_db]

SECRET_VALUE = "s3cr3t-value-never-shown"


@pytest.fixture(scope="module")
def workloads(kube_cluster: KubeCluster) -> Iterator[str]:
    """One namespace with a deployment (rolled out), a finished job, a pod, services, config maps and a secret
    applied the way ``kubectl apply`` does (its annotation repeats the values)."""
    namespace = kube_cluster.namespace("browse")
    image = kube_cluster.busybox_image
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
              "type": "Opaque", "stringData": {"password": SECRET_VALUE, "user": "app"}}  # fmt: skip
    secret["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(secret)}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"backoffLimit": 0, "template": {"spec": pod("x", image, "echo done")["spec"]}}}  # fmt: skip
    with kube_cluster.admin_api() as api:
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        apps.create_namespaced_deployment(namespace, deployment("web", image, 1, labels={"tier": "front"}))
        apps.create_namespaced_deployment(namespace, deployment("worker", image, 1, labels={"tier": "back"}))
        core.create_namespaced_secret(namespace, secret)
        for n in range(5):
            core.create_namespaced_config_map(namespace, {"metadata": {"name": f"settings-{n}",
                                              "labels": {"parity": "even" if n % 2 == 0 else "odd"}},
                                              "data": {"mode": "fast", f"key{n}": "v"}})  # fmt: skip
        core.create_namespaced_service(namespace, {"metadata": {"name": "web"}, "spec": {
            "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})  # fmt: skip
        k8s.BatchV1Api(api).create_namespaced_job(namespace, job)
        wait_rolled_out(api, namespace, "web", 1)
        wait_rolled_out(api, namespace, "worker", 1)
        wait_until(lambda: k8s.BatchV1Api(api).read_namespaced_job_status("once", namespace).status.succeeded,
                   timeout=120, interval=0.2, message="job once succeeded")  # fmt: skip
    yield namespace
    kube_cluster.delete_namespace(namespace)


@pytest.fixture
def shop(kube_cluster):
    shop = make_shop()
    where = {"server": kube_cluster.server, "ca": kube_cluster.ca_pem}
    shop.admin = shop.cluster("kube", **where, token=kube_cluster.admin_token)
    shop.viewer = shop.cluster("kube-view", **where, token=kube_cluster.viewer_token)
    return shop


def resources(client_, shop, kind: str, query: str = "", role: str = "viewer", cluster: Any = None) -> Any:
    cluster = cluster or shop.admin
    answer = client_.get(f"/api/v1/clusters/{cluster.pk}/resources/{kind}/?{query}", headers=shop.auth(role))
    return answer


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


def test_every_kind_is_listed_with_its_fields(client, shop, workloads):
    ns = f"namespace={workloads}"
    (web,) = resources(client, shop, "deployments", f"{ns}&label_selector=tier=front").json()["items"]
    fields = ("name", "namespace", "replicas", "ready", "available", "rollout")
    assert [web[key] for key in fields] == ["web", workloads, 1, 1, 1, "complete"]
    assert web["images"] == ["localhost/busybox:ansflow"]
    pods = resources(client, shop, "pods", f"{ns}&label_selector=app=web").json()["items"]
    assert [(p["phase"], p["ready"], p["restarts"], p["node"], p["containers"]) for p in pods] == [
        ("Running", "1/1", 0, "localhost", ["main"])]  # fmt: skip
    (service,) = resources(client, shop, "services", ns).json()["items"]
    assert (service["name"], service["type"], service["ports"], service["selector"]) == (
        "web", "ClusterIP", ["80→8080/TCP"], {"app": "web"})  # fmt: skip
    (job,) = resources(client, shop, "jobs", ns).json()["items"]
    assert (job["name"], job["status"], job["succeeded"], job["failed"]) == ("once", "complete", 1, 0)
    config_maps = resources(client, shop, "configmaps", f"{ns}&label_selector=parity=even").json()
    assert names(config_maps) == ["settings-0", "settings-2", "settings-4"]
    assert config_maps["items"][0]["keys"] == ["key0", "mode"]
    namespaces = names(resources(client, shop, "namespaces", "limit=500").json())
    assert {"default", "kube-system", workloads} <= set(namespaces)
    (node,) = resources(client, shop, "nodes").json()["items"]
    assert (node["name"], node["ready"], node["version"]) == ("localhost", True, "v1.20.2")
    events = resources(client, shop, "events", ns).json()["items"]
    assert {"ScalingReplicaSet", "Scheduled", "Completed"} <= {event["reason"] for event in events}
    assert [e["last_seen"] for e in events] == sorted((e["last_seen"] for e in events), reverse=True)
    everywhere = resources(client, shop, "deployments", "all_namespaces=true&label_selector=tier").json()
    assert everywhere["namespace"] is None
    assert sorted(names(everywhere)) == ["web", "worker"]


def test_every_tab_of_the_page_shows_its_rows_and_the_allowed_buttons(client, shop, workloads):
    expected = {
        "deployments": ['data-name="web"', "complete", "localhost/busybox:ansflow"],
        "pods": ['data-name="web-', "Running", f"/projects/shop/clusters/kube/pods/{workloads}/web-"],
        "services": ['data-name="web"', "80→8080/TCP"],
        "configmaps": ['data-name="settings-0"', '<span class="badge">key0</span>'],
        "secrets": ['data-name="db"', '<span class="badge">user</span>'],
        "jobs": ['data-name="once"', "complete"],
        "nodes": ['data-name="localhost"', "v1.20.2"],
        "events": ["ScalingReplicaSet"],
        "namespaces": [f'data-name="{workloads}"'],
    }
    for role in ("viewer", "maintainer"):
        client.force_login(shop.users[role])
        for kind, texts in expected.items():
            body = client.get(f"/projects/shop/clusters/kube/?kind={kind}&namespace={workloads}").content.decode()
            assert 'id="cluster-error"' not in body, (kind, body)
            assert f'data-kind="{kind}" class="on"' in body
            for text in texts:
                assert text in body, (kind, text)
            if kind == "deployments":
                assert ('data-scale="web"' in body) is (role == "maintainer")
                assert ('data-restart="web"' in body) is (role == "maintainer")
            if kind == "pods":
                assert ('data-delete="web-' in body) is (role == "maintainer")


def test_pages_are_cut_by_the_server_and_continued_with_its_token(client, shop, workloads):
    seen: list[str] = []
    query = f"namespace={workloads}&label_selector=parity&limit=2"
    for _ in range(5):
        page = resources(client, shop, "configmaps", query).json()
        assert len(page["items"]) <= 2
        seen += names(page)
        if not page["continue"]:
            break
        query = f"namespace={workloads}&label_selector=parity&limit=2&continue={page['continue']}"
    assert seen == [f"settings-{n}" for n in range(5)]
    # Without a selector the server also says how many are left (ours and the namespace's kube-root-ca.crt).
    first = resources(client, shop, "configmaps", f"namespace={workloads}&limit=2").json()
    assert (len(first["items"]), first["remaining"]) == (2, 4)
    stale = resources(client, shop, "configmaps", f"namespace={workloads}&limit=2&continue=not-a-token")
    assert stale.status_code == 400
    assert "continue" in stale.json()["detail"]
    bad_selector = resources(client, shop, "pods", f"namespace={workloads}&label_selector=app in (")
    assert bad_selector.status_code == 400
    assert bad_selector.json()["cluster_status"] == 400
    client.force_login(shop.users["viewer"])
    url = f"/projects/shop/clusters/kube/?kind=configmaps&namespace={workloads}"
    body = client.get(url).content.decode()
    assert all(f'data-name="settings-{n}"' in body for n in range(5))
    filtered = client.get(url + "&label_selector=parity%3Dodd").content.decode()
    assert 'data-name="settings-1"' in filtered
    assert 'data-name="settings-0"' not in filtered


def test_the_page_pages_with_the_continue_token(client, shop, kube_cluster, kube_namespace):
    with kube_cluster.admin_api() as api:
        core = k8s.CoreV1Api(api)
        for n in range(55):
            core.create_namespaced_config_map(kube_namespace, {"metadata": {"name": f"c-{n:02d}"}})
    client.force_login(shop.users["viewer"])
    url = f"/projects/shop/clusters/kube/?kind=configmaps&namespace={kube_namespace}"
    pages = []
    while url:
        body = client.get(url).content.decode()
        pages.append([name for name in re.findall(r'<tr data-name="([^"]+)"', body) if name.startswith("c-")])
        assert ("← First page" in body) is (len(pages) > 1)
        link = re.search(r'<a href="\?([^"]+)" id="next-page"', body)
        url = f"/projects/shop/clusters/kube/?{html.unescape(link.group(1))}" if link else ""
    assert len(pages) == 2  # 50 a page
    assert [name for page in pages for name in page] == [f"c-{n:02d}" for n in range(55)]


def test_secret_values_never_reach_the_api_the_pages_or_the_admin(client, shop, workloads):
    answer = resources(client, shop, "secrets", f"namespace={workloads}")
    db = next(item for item in answer.json()["items"] if item["name"] == "db")
    assert (db["type"], db["keys"]) == ("Opaque", ["password", "user"])
    assert "annotations" not in db
    everywhere = resources(client, shop, "secrets", "all_namespaces=true&limit=500", role="maintainer")
    bodies = [answer.content.decode(), everywhere.content.decode()]
    client.force_login(shop.users["maintainer"])
    page = client.get(f"/projects/shop/clusters/kube/?kind=secrets&namespace={workloads}").content.decode()
    assert 'data-name="db"' in page
    assert '<span class="badge">password</span>' in page
    bodies += [page, client.get(f"/admin/k8s_integration/cluster/{shop.admin.pk}/change/").content.decode()]
    bodies.append(client.get("/projects/shop/clusters/").content.decode())
    for body in bodies:
        assert SECRET_VALUE not in body
        assert shop.keys["maintainer"] not in body
    assert all(base64.b64encode(SECRET_VALUE.encode()).decode() not in body for body in bodies)


def test_scale_restart_and_delete_pod_change_the_cluster_and_are_audited(client, shop, kube_cluster, workloads):
    base = f"/api/v1/clusters/{shop.admin.pk}/"
    auth = shop.auth("maintainer")
    scaled = client.post(f"{base}deployments/{workloads}/web/scale/", {"replicas": 2}, content_type="application/json",
                         headers=auth)  # fmt: skip
    assert scaled.status_code == 200, scaled.content
    assert scaled.json()["replicas"] == 2
    with kube_cluster.admin_api() as api:
        wait_rolled_out(api, workloads, "web", 2)
        core = k8s.CoreV1Api(api)
        before = {p.metadata.name for p in core.list_namespaced_pod(workloads, label_selector="app=web").items}
        restarted = client.post(f"{base}deployments/{workloads}/web/restart/", headers=auth)
        assert restarted.status_code == 200, restarted.content
        template = k8s.AppsV1Api(api).read_namespaced_deployment("web", workloads).spec.template
        assert "kubectl.kubernetes.io/restartedAt" in template.metadata.annotations
        wait_until(lambda: not before & running_pods(core, workloads, "app=web") and
                   len(running_pods(core, workloads, "app=web")) == 2, timeout=120, interval=0.2,
                   message="the restart replaced every pod")  # fmt: skip
        wait_rolled_out(api, workloads, "web", 2)
        victim = sorted(running_pods(core, workloads, "app=web"))[0]
        deleted = client.delete(f"{base}pods/{workloads}/{victim}/", headers=auth)
        assert deleted.status_code == 204
        wait_until(lambda: victim not in {p.metadata.name for p in core.list_namespaced_pod(workloads).items},
                   timeout=60, interval=0.2, message="the pod is gone")  # fmt: skip
        missing = client.delete(f"{base}pods/{workloads}/{victim}/", headers=auth)
        assert missing.status_code == 404
        assert "not found" in missing.json()["detail"]
        # The page's forms do the same, as the maintainer signed in.
        client.force_login(shop.users["maintainer"])
        answer = client.post(f"/projects/shop/clusters/kube/deployments/{workloads}/web/scale/", {"replicas": "1"})
        assert answer.status_code == 302
        wait_rolled_out(api, workloads, "web", 1)
    events = AuditEvent.objects.filter(verb__startswith="cluster.", project=shop.project).exclude(verb="cluster.create")
    recorded = [(e.verb, e.actor_user.username, e.changes) for e in events.order_by("pk")]
    assert [(verb, who) for verb, who, _ in recorded] == [
        ("cluster.deployment_scale", "maintainer"), ("cluster.deployment_restart", "maintainer"),
        ("cluster.pod_delete", "maintainer"), ("cluster.deployment_scale", "maintainer")]  # fmt: skip
    assert recorded[0][2] == {"namespace": workloads, "deployment": "web", "replicas": [1, 2]}
    assert recorded[2][2] == {"namespace": workloads, "pod": victim}
    assert recorded[3][2]["replicas"] == [2, 1]


def running_pods(core: k8s.CoreV1Api, namespace: str, selector: str) -> set[str]:
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    return {p.metadata.name for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp}


def test_roles_and_the_clusters_own_rbac_are_both_enforced(client, shop, kube_cluster, workloads):
    base = f"/api/v1/clusters/{shop.admin.pk}/"
    for role in ("viewer", "operator"):
        denied = client.post(f"{base}deployments/{workloads}/worker/scale/", {"replicas": 3},
                             content_type="application/json", headers=shop.auth(role))  # fmt: skip
        assert denied.status_code == 403
        assert client.delete(f"{base}pods/{workloads}/anything/", headers=shop.auth(role)).status_code == 403
    with kube_cluster.admin_api() as api:
        assert k8s.AppsV1Api(api).read_namespaced_deployment("worker", workloads).spec.replicas == 1
    # The view-only credential reads its namespace, and the cluster itself refuses the rest.
    assert resources(client, shop, "pods", "namespace=default", cluster=shop.viewer).status_code == 200
    forbidden = resources(client, shop, "pods", f"namespace={workloads}", cluster=shop.viewer)
    assert forbidden.status_code == 502
    assert "forbidden" in forbidden.json()["detail"]
    assert 'User "ansflow-viewer" cannot list resource "pods"' in forbidden.json()["detail"]
    assert forbidden.json()["cluster_status"] == 403
    scale = client.post(f"/api/v1/clusters/{shop.viewer.pk}/deployments/{workloads}/worker/scale/", {"replicas": 1},
                        content_type="application/json", headers=shop.auth("maintainer"))  # fmt: skip
    assert scale.status_code == 502
    assert "forbidden" in scale.json()["detail"]


def test_pod_states_are_shown_as_the_cluster_reports_them(client, shop, kube_cluster, workloads):
    with kube_cluster.admin_api() as api:
        k8s.CoreV1Api(api).create_namespaced_pod(workloads, pod("crash", kube_cluster.busybox_image, "exit 3"))
        wait_until(lambda: pod_phase(api, workloads, "crash") == "Failed", timeout=60, interval=0.2,
                   message="pod crash failed")  # fmt: skip
    (crash,) = resources(client, shop, "pods", f"namespace={workloads}&label_selector=app=crash").json()["items"]
    assert (crash["phase"], crash["ready"]) == ("Failed", "0/1")
