"""Pod logs from the real cluster: the tail through the API and the page, and the live follow over the log
socket (a real WebSocket client against the real ASGI server), resumed without gap or duplicate, ended when the
container stops, refused to those who may not view the cluster."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from ansflow.testing import output_dir, session_cookie, wait_until
from apps.k8s_integration.clusters.logs import stamp_ns

from .cluster import KubeCluster
from .clusterworld import make_shop, pod, pod_phase

pytestmark = [pytest.mark.k8s, pytest.mark.django_db(transaction=True)]

TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"


@pytest.fixture
def shop(kube_cluster: KubeCluster):
    shop = make_shop()
    shop.kube = shop.cluster("kube", server=kube_cluster.server, ca=kube_cluster.ca_pem, token=kube_cluster.admin_token)
    return shop


def start_pod(kube_cluster: KubeCluster, namespace: str, name: str, script: str, phases: tuple[str, ...]) -> None:
    with kube_cluster.admin_api() as api:
        k8s.CoreV1Api(api).create_namespaced_pod(namespace, pod(name, kube_cluster.busybox_image, script))
        wait_until(lambda: pod_phase(api, namespace, name) in phases, timeout=120, interval=0.2,
                   message=f"pod {name} is {' or '.join(phases)}")  # fmt: skip


def socket(
    asgi_server: Any, shop: Any, namespace: str, name: str, query: str, role: str = "viewer"
) -> ClientConnection:
    url = f"{asgi_server.ws_url}/ws/clusters/{shop.kube.pk}/pods/{namespace}/{name}/logs/?{query}"
    return connect(f"{url}&token={shop.keys[role]}", open_timeout=30, close_timeout=5)


def receive(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv(timeout=60))
        if message["type"] != "ping":
            return message


def ticks(lines: list[dict[str, Any]]) -> list[int]:
    return [int(line["text"].split()[1]) for line in lines]


def test_tail_through_the_api_and_the_page(client, shop, kube_cluster, kube_namespace):
    start_pod(kube_cluster, kube_namespace, "counter", "for i in 1 2 3 4 5; do echo line $i; done", ("Succeeded",))
    answer = client.get(f"/api/v1/clusters/{shop.kube.pk}/pods/{kube_namespace}/counter/logs/?tail=3",
                        headers=shop.auth("viewer"))  # fmt: skip
    assert answer.status_code == 200, answer.content
    lines = answer.json()["lines"]
    assert [line["text"] for line in lines] == ["line 3", "line 4", "line 5"]
    stamps = [stamp_ns(line["time"]) for line in lines]
    assert all(stamps)
    assert stamps == sorted(stamps)
    client.force_login(shop.users["viewer"])
    page = client.get(f"/projects/shop/clusters/kube/pods/{kube_namespace}/counter/logs/?tail=2").content.decode()
    assert '<span class="t">line 4</span>' in page
    assert '<span class="t">line 5</span>' in page
    assert "line 3" not in page
    assert f'data-last-time="{lines[-1]["time"]}"' in page
    assert (
        f'data-ws-path="/ws/clusters/{shop.kube.pk}/pods/{kube_namespace}/counter/logs/?container=main&amp;tail=2"'
        in page
    )
    missing = client.get(f"/api/v1/clusters/{shop.kube.pk}/pods/{kube_namespace}/nobody/logs/",
                         headers=shop.auth("viewer"))  # fmt: skip
    assert missing.status_code == 404
    assert 'pods "nobody" not found' in missing.json()["detail"]


def test_follow_streams_live_lines_and_resumes_without_gap_or_duplicate(
    asgi_server, shop, kube_cluster, kube_namespace
):
    start_pod(kube_cluster, kube_namespace, "ticker", TICKER, ("Running",))
    with socket(asgi_server, shop, kube_namespace, "ticker", "container=main&tail=1") as ws:
        assert receive(ws) == {"type": "status", "kind": "streaming", "container": "main"}
        first = [receive(ws) for _ in range(8)]
    assert [line["seq"] for line in first] == list(range(1, 9))
    assert {line["type"] for line in first} == {"log"}
    assert {line["step"] for line in first} == {"main"}
    numbers = ticks(first)
    assert numbers == list(range(numbers[0], numbers[0] + 8))  # one old line (tail=1), then live ones in order
    last = first[-1]
    resume = f"container=main&tail=1&after={last['seq']}&since={last['time']}"
    with socket(asgi_server, shop, kube_namespace, "ticker", resume) as ws:
        assert receive(ws)["kind"] == "streaming"
        more = [receive(ws) for _ in range(3)]
    assert [line["seq"] for line in more] == [9, 10, 11]
    assert ticks(more) == [numbers[-1] + 1, numbers[-1] + 2, numbers[-1] + 3]


def test_the_stream_ends_and_the_socket_closes_when_the_container_stops(
    asgi_server, shop, kube_cluster, kube_namespace
):
    script = "echo one; echo two; sleep 2; echo three"
    start_pod(kube_cluster, kube_namespace, "brief", script, ("Running", "Succeeded"))
    with socket(asgi_server, shop, kube_namespace, "brief", "container=main") as ws:
        assert receive(ws)["kind"] == "streaming"
        texts = [receive(ws)["text"] for _ in range(3)]
        assert texts == ["one", "two", "three"]
        assert receive(ws) == {"type": "status", "kind": "ended", "detail": "The container stopped."}
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000


def test_the_socket_refuses_outsiders_and_reports_bad_requests(asgi_server, shop, kube_cluster, kube_namespace):
    base = f"{asgi_server.ws_url}/ws/clusters/{shop.kube.pk}/pods/{kube_namespace}"

    def close_code(url: str, headers: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], int | None]:
        messages = []
        with connect(url, additional_headers=headers or {}, open_timeout=30) as ws:
            try:
                while True:
                    messages.append(json.loads(ws.recv(timeout=30)))
            except ConnectionClosed as closed:
                return messages, closed.rcvd.code if closed.rcvd else None

    assert close_code(f"{base}/x/logs/") == ([], 4401)
    assert close_code(f"{base}/x/logs/?token={shop.keys['outsider']}") == ([], 4404)
    cookie = {"Cookie": f"sessionid={session_cookie(shop.users['operator'])}"}
    messages, code = close_code(f"{base}/nobody/logs/?tail=5", cookie)
    assert code == 1000
    assert messages[0]["kind"] == "error"
    assert 'pods "nobody" not found' in messages[0]["detail"]
    messages, code = close_code(f"{base}/x/logs/?tail=lots&token={shop.keys['viewer']}")
    assert (messages[0]["kind"], code) == ("error", 4400)
    messages, code = close_code(f"{base}/x/logs/?since=yesterday&token={shop.keys['viewer']}")
    assert (messages[0]["kind"], code) == ("error", 4400)
    assert "RFC 3339" in messages[0]["detail"]


def connections_to(pid: int, port: int) -> int:
    """How many established TCP connections process ``pid`` holds to ``port`` on this host."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    count = 0
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        remote_port, state, inode = int(fields[2].split(":")[1], 16), fields[3], fields[9]
        count += remote_port == port and state == "01" and inode in inodes
    return count


def test_closing_the_socket_closes_the_log_connection_to_the_cluster(asgi_server, shop, kube_cluster, kube_namespace):
    start_pod(kube_cluster, kube_namespace, "ticker", TICKER, ("Running",))
    api_port = int(kube_cluster.server.rsplit(":", 1)[1])
    for _ in range(3):
        with socket(asgi_server, shop, kube_namespace, "ticker", "container=main&tail=0") as ws:
            assert receive(ws)["kind"] == "streaming"
            assert receive(ws)["type"] == "log"
            assert connections_to(asgi_server.pid, api_port) >= 1  # the followed log
        wait_until(lambda: connections_to(asgi_server.pid, api_port) == 0, timeout=30,
                   message="the server closed its log connection to the cluster")  # fmt: skip
    log = (output_dir() / "asgi.log").read_text()
    assert not re.search(r"pod log (stream|socket sender) failed", log)
