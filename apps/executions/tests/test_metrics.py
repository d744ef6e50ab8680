"""``/metrics`` over a real uvicorn after real runs: Prometheus text that a parser accepts, and its protection."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from ansflow.testing import wait_until
from apps.accounts.services import token_create

from .helpers import pipeline_yaml, run, superuser

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(server) -> dict[str, list]:
    answer = httpx.get(f"{server.url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    families: dict[str, list] = {}
    for family in text_string_to_metric_families(answer.text):
        families.setdefault(family.name, []).extend(family.samples)
    return families


def value(families, name, **labels) -> float:
    for family_samples in families.values():
        for sample in family_samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_after_runs(celery_worker, asgi_server) -> None:
    good = run(pipeline_yaml("metrics-ok", "- {id: a, type: shell, run: 'echo one; echo two'}"))
    bad = run(pipeline_yaml("metrics-bad", "- {id: a, type: shell, run: 'exit 3'}"))
    assert (good.status, bad.status) == ("success", "failed")

    families = scrape(asgi_server)
    assert value(families, "ansflow_executions", project="eng", pipeline="metrics-ok", status="success") >= 1
    assert value(families, "ansflow_executions", project="eng", pipeline="metrics-bad", status="failed") >= 1
    # Both shell attempts are in the histogram; every attempt is at most +Inf.
    assert value(families, "ansflow_step_duration_seconds_count", kind="shell") >= 2
    assert value(families, "ansflow_step_duration_seconds_bucket", kind="shell", le="+Inf") >= 2
    assert value(families, "ansflow_log_lines_ingested_total") >= 2
    assert value(families, "ansflow_queue_depth") >= 0
    assert "ansflow_queue_oldest_age_seconds" in families
    assert "ansflow_steps_running" in families
    assert "ansflow_workers_heartbeating" in families


def test_live_websocket_connections_are_counted(asgi_server, celery_worker) -> None:
    execution = run(pipeline_yaml("metrics-ws", "- {id: a, type: shell, run: echo hi}"))
    _, key = token_create(actor=None, user=superuser(), name="metrics-ws")
    before = value(scrape(asgi_server), "ansflow_websocket_connections")
    url = f"{asgi_server.ws_url}/ws/executions/{execution.pk}/?after=0&token={key}"
    with connect(url, close_timeout=1) as ws:
        ws.recv(timeout=10)  # the snapshot: the socket is accepted and counted
        wait_until(
            lambda: value(scrape(asgi_server), "ansflow_websocket_connections") == before + 1,
            timeout=10,
            message="the open socket is counted",
        )
    wait_until(
        lambda: value(scrape(asgi_server), "ansflow_websocket_connections") == before,
        timeout=10,
        message="the closed socket is no longer counted",
    )


@override_settings(METRICS_TOKEN="s3cret-metrics-token", METRICS_ALLOW=[])
def test_metrics_need_the_token_or_an_allowed_address() -> None:
    client = Client(REMOTE_ADDR="127.0.0.1")
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert "ANSFLOW_METRICS_TOKEN" in refused.json()["detail"]
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert allowed.status_code == 200
    assert b"ansflow_queue_depth" in allowed.content
    assert client.post("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 405


@override_settings(METRICS_TOKEN="", METRICS_ALLOW=["10.0.0.0/8"])
def test_allow_list_by_network() -> None:
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.168.1.1").get("/metrics").status_code == 403
    # A bearer token when none is configured is refused, whatever the address.
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 401
