"""Large output, log retention, and a Redis restart in the middle of a run."""

from __future__ import annotations

import json
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone
from websockets.sync.client import connect

from ansflow.testing import AsgiServer, CeleryWorker, RedisServer, wait_until
from apps.accounts.services import token_create
from apps.executions.models import Execution, LogLine
from apps.executions.services import logs_expire
from apps.pipelines.services import pipeline_import

from .helpers import pipeline_yaml, project, run, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)


def worker_rss(worker: CeleryWorker) -> int:
    main = psutil.Process(worker.pid)
    return sum(p.memory_info().rss for p in [main, *main.children(recursive=True)])


def test_a_million_lines_all_arrive_in_order_with_bounded_worker_memory(celery_worker):
    baseline = worker_rss(celery_worker)
    peak = [baseline]

    def finished() -> Execution | None:
        peak.append(worker_rss(celery_worker))
        current = Execution.objects.get(pk=execution.pk)
        return current if current.status in ("success", "failed", "canceled") else None

    from .helpers import start

    execution = start(pipeline_yaml("million", "- {id: flood, type: shell, run: 'seq 1 1000000'}"))
    done = wait_until(finished, timeout=600, interval=0.2, message="the million-line step finishes")
    assert done.status == "success"
    assert done.log_seq == 1_000_000
    lines = LogLine.objects.filter(execution=done)
    assert lines.count() == 1_000_000
    # Sequence numbers and text agree line for line at the start, middle and end.
    for seq in (1, 500_000, 1_000_000):
        assert lines.get(seq=seq).text == str(seq)
    growth_mb = (max(peak) - baseline) / 2**20
    assert growth_mb < 150, f"worker memory grew by {growth_mb:.0f} MB"


def test_retention_deletes_old_logs_only(celery_worker):
    quiet = pipeline_yaml("retained", "- {id: a, type: shell, run: echo kept}")
    old, recent = run(quiet), run(quiet)
    # Time passes for the old run only.
    Execution.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=91))
    assert logs_expire(days=90) == 1
    assert not LogLine.objects.filter(execution=old).exists()
    assert list(LogLine.objects.filter(execution=recent).values_list("text", flat=True)) == ["kept"]
    assert logs_expire(days=0) == 0  # 0 keeps logs forever


def test_redis_restart_during_a_run_loses_no_line(spare_redis: RedisServer, tmp_path):
    """The run finishes, every line is in the database, and a viewer resumes without a gap."""
    server = AsgiServer.create("asgi-redis-restart", REDIS_URL=spare_redis.url)
    worker = CeleryWorker.create("worker-redis-restart", concurrency=1, REDIS_URL=spare_redis.url)
    server.start()
    worker.start()
    go = tmp_path / "go"
    try:
        server.wait_ready()
        wait_until(lambda: httpx_ready(server), timeout=60, interval=0.2)
        actor = superuser()
        _token, key = token_create(actor=actor, user=actor, name="restart")
        imported = pipeline_import(
            actor=actor,
            project=project("restart"),
            yaml_text=pipeline_yaml(
                "restart",
                f"""
                - id: talk
                  type: shell
                  run: |
                    for i in $(seq 1 200); do echo "before $i"; done
                    while [ ! -e {go} ]; do sleep 0.05; done
                    for i in $(seq 1 200); do echo "after $i"; done
                - {{id: next, type: shell, needs: [talk], run: echo next}}
                """,
                project_slug="restart",
            ),
        )
        import httpx

        response = httpx.post(
            f"{server.url}/api/v1/pipelines/{imported.pipeline.pk}/run/",
            json={"inputs": {}},
            headers={"Authorization": f"Token {key}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        execution = Execution.objects.get(pk=response.json()["id"])
        seen: dict[int, str] = {}
        with connect(f"{server.ws_url}/ws/executions/{execution.pk}/?after=0&token={key}", close_timeout=0.2) as ws:
            while len(seen) < 200:
                message = json.loads(ws.recv(timeout=60))
                if message["type"] == "log":
                    seen[message["seq"]] = message["text"]
        spare_redis.stop()
        spare_redis.start()
        spare_redis.wait_ready()
        go.touch()
        done = wait_done(execution, timeout=120)
        assert done.status == "success"
        expected = dict(LogLine.objects.filter(execution=done).values_list("seq", "text"))
        assert len(expected) == 401
        with connect(
            f"{server.ws_url}/ws/executions/{execution.pk}/?after={max(seen)}&token={key}", close_timeout=0.2
        ) as ws:
            while len(seen) < len(expected):
                message = json.loads(ws.recv(timeout=60))
                if message["type"] == "log":
                    assert message["seq"] not in seen
                    seen[message["seq"]] = message["text"]
        assert seen == expected
    finally:
        worker.stop()
        server.stop()


def httpx_ready(server: AsgiServer) -> bool:
    import httpx

    return httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
