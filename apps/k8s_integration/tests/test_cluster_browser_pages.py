"""The cluster pages in a real headless Chromium against the real ASGI server and the real 1.20 cluster.

A viewer browses a project's clusters and a cluster's resources (tabs, htmx filters and paging) and sees no
button they may not use; a maintainer checks the cluster, scales, restarts and deletes a pod from the pages.
A pod's log page shows the tail the server rendered, then lines the pod prints later, and after its socket is
cut twice still has every line exactly once; it stops when the container does. Each page is also drawn at a
phone's width, where nothing but a table or the log may be wider than the screen. Screenshots go to
``<data dir>/test-output/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from ansflow.testing import answering_dialog, signed_in_page, wait_until

from .cluster import KubeCluster
from .clusterworld import deployment, make_shop, pod, pod_phase, wait_rolled_out

pytestmark = [pytest.mark.k8s, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# A green "tick" and its number, five times a second, until the pod is deleted.
TICKER = "i=0; while true; do i=$((i+1)); printf '\\033[32mtick\\033[0m %s\\n' $i; sleep 0.2; done"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_SEQ = "Math.max(0, ...[...document.querySelectorAll('#log .l')].map(r => +r.dataset.seq))"


@pytest.fixture
def shop(kube_cluster: KubeCluster) -> Any:
    shop = make_shop()
    shop.kube = shop.cluster("kube", server=kube_cluster.server, ca=kube_cluster.ca_pem, token=kube_cluster.admin_token)
    return shop


@pytest.fixture
def open_page(browser: Any, asgi_server: Any) -> Iterator[Any]:
    """``open_page(username, viewport=DESK)``: a new page with that user signed in, closed after the test."""
    pages = []

    def open_page(username: str, viewport: dict[str, int] = DESK) -> Any:
        pages.append(signed_in_page(browser, asgi_server.url, username, viewport["width"], viewport["height"]))
        return pages[-1]

    yield open_page
    for page in pages:
        page.close()


def start(kube_cluster: KubeCluster, namespace: str, *objects: dict[str, Any]) -> None:
    """Creates pods and deployments in ``namespace`` and waits until every pod runs (or ran) and every
    deployment rolled out."""
    with kube_cluster.admin_api() as api:
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        for item in objects:
            if item["kind"] == "Pod":
                core.create_namespaced_pod(namespace, item)
            else:
                apps.create_namespaced_deployment(namespace, item)
        for item in objects:
            name = item["metadata"]["name"]
            if item["kind"] == "Pod":
                wait_until(lambda name=name: pod_phase(api, namespace, name) in ("Running", "Succeeded"), timeout=120,
                           interval=0.2, message=f"pod {name} runs")  # fmt: skip
            else:
                wait_rolled_out(api, namespace, name, item["spec"]["replicas"])


def log_rows(page: Any) -> list[tuple[int, str]]:
    """``(seq, text)`` of every line of the log on the page, in page order."""
    rows = page.eval_on_selector_all(
        "#log .l", "rows => rows.map(r => [Number(r.dataset.seq), r.querySelector('.t').textContent])"
    )
    return [(seq, text) for seq, text in rows]


def tick(text: str) -> int:
    match = re.fullmatch(r"tick (\d+)", ANSI.sub("", text))
    assert match, text
    return int(match.group(1))


def max_seq(page: Any) -> int:
    return int(page.evaluate(MAX_SEQ))


def fits_the_phone(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"])


def flash(page: Any) -> str:
    return str(page.locator("ul.messages").inner_text())


def test_pod_log_page_shows_the_tail_then_follows_and_resumes_without_gap_or_duplicate(
    open_page, asgi_server, shop, kube_cluster, kube_namespace, shots
):
    start(kube_cluster, kube_namespace, pod("ticker", kube_cluster.busybox_image, TICKER))
    with kube_cluster.admin_api() as api:
        wait_until(lambda: k8s.CoreV1Api(api).read_namespaced_pod_log("ticker", kube_namespace).count("\n") >= 8,
                   timeout=60, interval=0.2, message="the ticker printed 8 lines")  # fmt: skip
    url = f"{asgi_server.url}/projects/shop/clusters/kube/pods/{kube_namespace}/ticker/logs/?tail=5"
    page = open_page("viewer")
    html = page.goto(url).text()

    # The server rendered the last five lines; the page then follows with lines printed later.
    tail = re.findall(r'<div class="l" id="L(\d+)".*?<span class="t">(.*?)</span></div>', html)
    assert [int(seq) for seq, _ in tail] == [1, 2, 3, 4, 5]
    first = tick(tail[0][1])
    assert [tick(text) for _, text in tail] == list(range(first, first + 5))
    assert page.locator("#L1 .t .ansi-fg-2").inner_text() == "tick"  # the tail gets its colours too
    page.wait_for_selector("#log-conn[data-state=live]")
    page.wait_for_function("document.querySelectorAll('#log .l').length >= 10")
    assert page.locator("[data-delete]").count() == 0  # a viewer may not delete the pod
    page.screenshot(path=str(shots / "pod-log.png"), full_page=True)

    # Cut the socket twice while the pod keeps printing: it resumes after the last line shown.
    for _ in range(2):
        seen = max_seq(page)
        with page.expect_websocket() as reconnected:
            page.evaluate("window.AnsFlow.podLog.socket.ws.close()")
        resumed = reconnected.value.url
        assert int(re.search(r"[?&]after=(\d+)", resumed).group(1)) >= seen > 0
        assert re.search(r"[?&]since=\d{4}-\d\d-\d\dT", resumed), resumed
        page.wait_for_function(f"{MAX_SEQ} > {seen + 5}")
    rows = log_rows(page)
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))
    assert [tick(text) for _, text in rows] == list(range(first, first + len(rows)))  # no gap, no duplicate

    phone = open_page("viewer", PHONE)
    phone.goto(url)
    phone.wait_for_selector("#log-conn[data-state=live]")
    assert fits_the_phone(phone)
    phone.screenshot(path=str(shots / "phone-pod-log.png"), full_page=True)


def test_pod_log_page_stops_with_the_container_and_a_maintainer_deletes_the_pod(
    open_page, asgi_server, shop, kube_cluster, kube_namespace
):
    start(
        kube_cluster,
        kube_namespace,
        pod("brief", kube_cluster.busybox_image, "echo one; echo two; sleep 2; echo three"),
    )
    page = open_page("maintainer")
    page.goto(f"{asgi_server.url}/projects/shop/clusters/kube/pods/{kube_namespace}/brief/logs/")
    page.wait_for_selector("#log-conn[data-state=ended]")
    assert page.locator("#log-conn").inner_text() == "container stopped"
    assert page.locator("#log .log-note").inner_text() == "The container stopped."
    assert [text for _, text in log_rows(page)] == ["one", "two", "three"]

    # Cancelling the confirmation sends nothing: the page stays, the pod stays.
    refused = answering_dialog(page, accept=False)
    page.click('[data-delete="brief"]')  # returns once the dialog is answered
    assert refused == [f"Delete pod brief in {kube_namespace}?"]
    assert page.url.endswith("/brief/logs/")
    with kube_cluster.admin_api() as api:
        assert "brief" in {p.metadata.name for p in k8s.CoreV1Api(api).list_namespaced_pod(kube_namespace).items}
    asked = answering_dialog(page)
    with page.expect_navigation():
        page.click('[data-delete="brief"]')
    assert asked == [f"Delete pod brief in {kube_namespace}?"]
    assert f"kind=pods&namespace={kube_namespace}" in page.url
    assert f"Deleted pod {kube_namespace}/brief." in flash(page)
    with kube_cluster.admin_api() as api:
        core = k8s.CoreV1Api(api)
        wait_until(lambda: "brief" not in {p.metadata.name for p in core.list_namespaced_pod(kube_namespace).items},
                   timeout=60, interval=0.2, message="pod brief is gone")  # fmt: skip


def test_a_viewer_browses_filters_and_pages_without_action_buttons(
    open_page, asgi_server, shop, kube_cluster, kube_namespace, shots
):
    start(kube_cluster, kube_namespace, deployment("web", kube_cluster.busybox_image, 1))
    with kube_cluster.admin_api() as api:
        core = k8s.CoreV1Api(api)
        for name, batch in [(f"c-{n:02d}", "a") for n in range(52)] + [(f"d-{n}", "b") for n in range(3)]:
            core.create_namespaced_config_map(kube_namespace, {"metadata": {"name": name, "labels": {"batch": batch}}})
    page = open_page("viewer")
    page.goto(f"{asgi_server.url}/projects/shop/clusters/")
    assert page.locator('#clusters tr[data-cluster="kube"]').is_visible()
    assert page.locator("[data-check]").count() == 0
    assert page.get_by_text("Add a cluster").count() == 0
    page.screenshot(path=str(shots / "clusters-viewer.png"), full_page=True)

    with page.expect_navigation():
        page.click('#clusters a:has-text("kube")')
    assert page.locator("[data-check]").count() == 0
    page.goto(f"{page.url}?kind=deployments&namespace={kube_namespace}")
    assert "1/1" in page.locator('#resource-table tr[data-name="web"]').inner_text()
    assert page.locator("[data-scale], [data-restart]").count() == 0
    with page.expect_navigation():
        page.click('#kinds a[data-kind="pods"]')  # the tab keeps the namespace
    assert page.locator('#resource-table tr[data-name^="web-"] [data-logs^="web-"]').is_visible()
    assert page.locator("[data-delete]").count() == 0
    page.screenshot(path=str(shots / "cluster-pods-viewer.png"), full_page=True)

    # Filters and paging swap the table in place (htmx) and keep the tabs' links in step.
    with page.expect_navigation():
        page.click('#kinds a[data-kind="configmaps"]')
    names = page.eval_on_selector_all("#resource-table tr[data-name]", "rows => rows.map(r => r.dataset.name)")
    assert len(names) == 50
    page.click("#next-page")
    page.wait_for_function("!document.querySelector('#resource-table tr[data-name=\"c-00\"]')")
    rest = page.eval_on_selector_all("#resource-table tr[data-name]", "rows => rows.map(r => r.dataset.name)")
    assert "cont=" in page.url
    assert page.get_by_text("← First page").is_visible()
    assert sorted(names + rest) == sorted([f"c-{n:02d}" for n in range(52)] + ["d-0", "d-1", "d-2", "kube-root-ca.crt"])
    # A filter starts again from the first page (the second page's continue token is not kept).
    page.fill("#f-selector", "batch=a")
    page.click("#resource-filters button[type=submit]")
    page.wait_for_function("document.querySelector('#resource-table tr[data-name]').dataset.name === 'c-00'")
    assert page.locator("#resource-table tr[data-name]").count() == 50
    assert "cont=" not in page.url
    page.fill("#f-selector", "batch=b")
    page.click("#resource-filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#resource-table tr[data-name]').length === 3")
    assert "label_selector=batch%3Db" in page.url
    assert "label_selector=batch%3Db" in page.locator('#kinds a[data-kind="pods"]').get_attribute("href")
    with page.expect_navigation():
        page.click('#kinds a[data-kind="pods"]')
    assert page.locator("#resource-table td.empty").inner_text() == "No pods match."

    phone = open_page("viewer", PHONE)
    for name, path in [("clusters", ""), ("cluster", f"kube/?kind=pods&namespace={kube_namespace}")]:
        phone.goto(f"{asgi_server.url}/projects/shop/clusters/{path}")
        assert fits_the_phone(phone), name
        phone.screenshot(path=str(shots / f"phone-{name}.png"), full_page=True)


def test_a_maintainer_checks_scales_restarts_and_deletes_from_the_pages(
    open_page, asgi_server, shop, kube_cluster, kube_namespace, shots
):
    start(kube_cluster, kube_namespace, deployment("web", kube_cluster.busybox_image, 1))
    page = open_page("maintainer")
    page.goto(f"{asgi_server.url}/projects/shop/clusters/")
    assert page.get_by_text("Add a cluster").is_visible()
    assert page.locator(".check-result").inner_text() == "never checked"
    with page.expect_navigation():
        page.click('[data-check="kube"]')
    assert "kube: Kubernetes v1.20.2 as credential kube-cred" in flash(page)
    assert page.locator(".check-result .status").inner_text() == "ok"

    cluster_page = f"{asgi_server.url}/projects/shop/clusters/kube/?kind=deployments&namespace={kube_namespace}"
    page.goto(cluster_page)
    page.fill('[data-scale="web"] input[name=replicas]', "2")
    asked = answering_dialog(page)
    with page.expect_navigation():
        page.click('[data-scale="web"] button')
    assert asked == [f"Scale deployment web in {kube_namespace} to the replicas entered?"]
    assert f"Scaled {kube_namespace}/web to 2 replicas." in flash(page)
    with kube_cluster.admin_api() as api:
        wait_rolled_out(api, kube_namespace, "web", 2)
    page.goto(cluster_page)
    assert "2/2" in page.locator('#resource-table tr[data-name="web"]').inner_text()
    page.screenshot(path=str(shots / "cluster-deployments-maintainer.png"), full_page=True)
    asked = answering_dialog(page)
    with page.expect_navigation():
        page.click('[data-restart="web"] button')
    assert asked == [f"Restart deployment web in {kube_namespace}? Its pods are replaced."]
    assert f"Restarted the rollout of {kube_namespace}/web." in flash(page)
    with kube_cluster.admin_api() as api:
        template = k8s.AppsV1Api(api).read_namespaced_deployment("web", kube_namespace).spec.template
        assert "kubectl.kubernetes.io/restartedAt" in template.metadata.annotations

    page.goto(cluster_page.replace("kind=deployments", "kind=pods"))
    victim = page.locator("[data-delete]").first.get_attribute("data-delete")
    asked = answering_dialog(page)
    with page.expect_navigation():
        page.click(f'[data-delete="{victim}"] button')
    assert asked == [f"Delete pod {victim} in {kube_namespace}?"]
    assert f"Deleted pod {kube_namespace}/{victim}." in flash(page)
    page.screenshot(path=str(shots / "cluster-pods-maintainer.png"), full_page=True)
    with kube_cluster.admin_api() as api:
        core = k8s.CoreV1Api(api)
        wait_until(lambda: victim not in {p.metadata.name for p in core.list_namespaced_pod(kube_namespace).items},
                   timeout=60, interval=0.2, message=f"pod {victim} is gone")  # fmt: skip
