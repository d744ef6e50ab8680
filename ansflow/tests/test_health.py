"""Liveness, readiness and the end-to-end WebSocket path through Redis and Celery."""

from __future__ import annotations

import json

import httpx
import pytest
from django.contrib.auth import get_user_model
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ansflow.testing import AsgiServer, CeleryWorker, RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


def receive_json(ws, timeout: float = 30.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_when_every_part_answers(client, celery_worker):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["failing"] == []
    assert set(body["checks"]) == {"database", "redis", "channel_layer", "celery"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_names_redis_when_the_redis_server_is_stopped(spare_redis: RedisServer):
    # A web server and a worker of their own on a Redis server this test may stop.
    server = AsgiServer.create("asgi-readyz", REDIS_URL=spare_redis.url)
    worker = CeleryWorker.create("worker-readyz", concurrency=1, REDIS_URL=spare_redis.url)
    server.start()
    worker.start()
    try:
        server.wait_ready()
        # The worker pings through the spare Redis; wait until the web server sees it ready.
        from ansflow.testing import wait_until

        wait_until(lambda: httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200, timeout=60)

        spare_redis.stop()
        response = httpx.get(f"{server.url}/readyz", timeout=15)
        body = response.json()
        assert response.status_code == 503
        assert {"redis", "channel_layer", "celery"} <= set(body["failing"])
        assert "database" not in body["failing"]
        assert "Redis unreachable" in body["checks"]["redis"]["error"]
        assert "Redis" in body["checks"]["channel_layer"]["error"]
    finally:
        worker.kill()
        server.stop()


def test_health_socket_round_trips_through_the_channel_layer(asgi_server):
    with connect(f"{asgi_server.ws_url}/ws/health/") as ws:
        hello = receive_json(ws)
        assert hello["type"] == "hello"
        ws.send(json.dumps({"type": "ping", "nonce": "n1"}))
        assert receive_json(ws) == {"type": "pong", "nonce": "n1", "via": "channel_layer"}


def test_task_sent_from_a_web_request_answers_the_socket_through_the_worker(client, asgi_server, celery_worker):
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    with connect(f"{asgi_server.ws_url}/ws/health/") as ws:
        token = receive_json(ws)["token"]
        response = client.post("/api/v1/health/echo/", {"token": token, "nonce": "from-http"})
        assert response.status_code == 202, response.content
        pong = receive_json(ws)
    assert pong["type"] == "pong"
    assert pong["nonce"] == "from-http"
    assert pong["via"] == "celery"
    assert pong["worker"]


def test_health_echo_requires_staff(client):
    user = get_user_model().objects.create_user("dev", password="x")
    assert client.post("/api/v1/health/echo/", {"token": "0" * 32}).status_code == 401
    client.force_login(user)
    assert client.post("/api/v1/health/echo/", {"token": "0" * 32}).status_code == 403


def test_anonymous_socket_cannot_ping_through_celery(asgi_server):
    with connect(f"{asgi_server.ws_url}/ws/health/") as ws:
        receive_json(ws)
        ws.send(json.dumps({"type": "ping", "via": "celery"}))
        assert receive_json(ws)["type"] == "error"


def test_socket_from_a_foreign_browser_origin_is_refused(asgi_server):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{asgi_server.ws_url}/ws/health/", origin="https://evil.example")
    assert refused.value.response.status_code == 403
