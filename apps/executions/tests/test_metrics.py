"""``/metrics`` over a real uvicorn after real runs: Prometheus text that a parser accepts, and its protection."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from ansflow.testing import wait_until
from apps.accounts.services import token_create
from apps.executions.models import StepAttempt
from apps.executions.observability import durations

from .helpers import pipeline_yaml, run, start, superuser

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


def test_the_duration_histogram_counts_only_what_is_new_and_agrees_with_a_full_count() -> None:
    # Behind a gate nobody opens, so no worker records attempts of its own for them.
    steps = """
    - {id: gate, type: approval, with: {approvers: {roles: [maintainer]}, min_approvals: 1}}
    - {id: a, type: shell, needs: [gate], run: 'true'}
    - {id: b, type: http, needs: [gate], with: {url: 'http://127.0.0.1:1/'}}
    """
    execution = start(pipeline_yaml("histogram", steps))
    shell, http = execution.steps.get(step_id="a"), execution.steps.get(step_id="b")
    now = timezone.now()

    def attempt(step, seconds: float, finished_ago: float) -> StepAttempt:
        end = now - timedelta(seconds=finished_ago)
        number = StepAttempt.objects.filter(step=step).count() + 1
        return StepAttempt.objects.create(step=step, number=number, status="success", worker="w:1",
                                          started_at=end - timedelta(seconds=seconds), finished_at=end)  # fmt: skip

    def expected() -> dict[str, tuple[list[int], int, float]]:
        found: dict[str, tuple[list[int], int, float]] = {}
        for kind in ("shell", "http"):
            rows = [a for a in StepAttempt.objects.filter(step__kind=kind)]
            seconds = [(a.finished_at - a.started_at).total_seconds() for a in rows]
            if rows:
                found[kind] = ([sum(s <= b for s in seconds) for b in durations.BUCKETS], len(rows), sum(seconds))
        return found

    def read(histogram: durations.Histogram) -> dict[str, tuple[list[int], int, float]]:
        return {kind: (c.buckets, c.count, pytest.approx(c.total)) for kind, c in histogram.read().items()}

    histogram = durations.Histogram()
    assert read(histogram) == {}
    attempt(shell, 0.05, finished_ago=600)  # settled
    attempt(shell, 7.0, finished_ago=300)  # settled
    attempt(http, 0.3, finished_ago=1)  # not yet: counted afresh at each read
    assert read(histogram) == expected()
    settled_at = histogram.upto
    assert settled_at > 0
    attempt(shell, 45.0, finished_ago=120)  # settled, after the first read
    attempt(shell, 2000.0, finished_ago=2)
    attempt(http, 0.2, finished_ago=0)
    assert read(histogram) == expected() == read(durations.Histogram())
    assert histogram.upto > settled_at  # the kept counts moved on
    assert histogram.read()["shell"].count == 4
    # Emptied and refilled (ids may start again): counted again from nothing.
    StepAttempt.objects.all().delete()
    attempt(http, 0.7, finished_ago=900)
    assert read(histogram) == expected()
    assert list(histogram.read()) == ["http"]
