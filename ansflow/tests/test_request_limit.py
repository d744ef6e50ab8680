"""A web process lets a bounded number of HTTP requests into Django and queues the rest (never fails them)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import transaction

from ansflow.testing import AsgiServer, wait_until
from apps.accounts.models import Project
from apps.accounts.services import project_create, token_create
from apps.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

METRICS_TOKEN = "request-limit-metrics"


def gauge(server: AsgiServer, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    found = re.search(rf"^ansflow_http_requests_{name} (\S+)$", text, re.MULTILINE)
    assert found, text
    return float(found.group(1))


def test_requests_past_the_limit_wait_for_a_place_and_then_succeed(redis_server: str) -> None:
    root = UserFactory(is_superuser=True, is_staff=True)
    project = project_create(actor=root, slug="queue", name="Queue")
    _, key = token_create(actor=root, user=root, name="limit")
    headers = {"Authorization": f"Token {key}"}
    server = AsgiServer.create(
        "asgi-limit", ANSFLOW_WEB_MAX_CONCURRENT_REQUESTS="2", ANSFLOW_METRICS_TOKEN=METRICS_TOKEN
    )
    server.start()
    try:
        server.wait_ready()
        assert gauge(server, "limit") == 2
        with ThreadPoolExecutor(max_workers=3) as pool:
            # This test holds the project's row (SQLite: the write lock), so both updates stay inside Django.
            with transaction.atomic():
                Project.objects.select_for_update().get(pk=project.pk)
                updates = [
                    pool.submit(
                        httpx.patch, f"{server.url}/api/v1/projects/queue/", json={"description": f"d{n}"},
                        headers=headers, timeout=60,
                    )
                    for n in range(2)
                ]  # fmt: skip
                wait_until(lambda: gauge(server, "in_flight") == 2, message="both updates inside Django")
                listing = pool.submit(httpx.get, f"{server.url}/api/v1/projects/", headers=headers, timeout=60)
                wait_until(lambda: gauge(server, "waiting") == 1, message="the third request queued")
                assert not listing.done()
                assert gauge(server, "in_flight") == 2
            assert [update.result().status_code for update in updates] == [200, 200]
            answer = listing.result()
        assert answer.status_code == 200
        assert [row["slug"] for row in answer.json()["results"]] == ["queue"]
        assert gauge(server, "waiting") == 0
    finally:
        server.stop()
