"""Fault injection (``-m chaos``, run by .ci/run on MariaDB + Redis): killed workers, a killed web server,
many workers at once. Each fault is real: SIGKILL to process groups, servers restarted on the same address."""

from __future__ import annotations

import json
import random
import threading
import time

import httpx
import psutil
import pytest
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from ansflow.testing import AsgiServer, free_port, session_cookie, wait_until
from apps.executions.choices import StepStatus
from apps.executions.engine.reaper import reap
from apps.executions.models import Execution, LogLine, StepAttempt, StepExecution

from .helpers import fan_out_on_extra_workers, pipeline_yaml, start, superuser, wait_done

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]


def test_twenty_worker_kills_at_random_moments_end_lost_and_retried(celery_worker, settings, tmp_path):
    settings.HEARTBEAT_TIMEOUT = 2.0
    rng = random.Random(20)
    for round_ in range(20):
        marker = tmp_path / f"started-{round_}"
        execution = start(
            pipeline_yaml(
                f"kill-{round_}",
                f"""
                - id: long
                  type: shell
                  retry: {{max: 1, on: [lost]}}
                  run: |
                    echo "attempt $ANSFLOW_ATTEMPT" >> {marker}
                    if [ "$ANSFLOW_ATTEMPT" = 1 ]; then for i in $(seq 1 600); do echo tick $i; sleep 0.05; done; fi
                """,
            )
        )
        wait_until(marker.exists, message="attempt 1 started")
        # Kill at a random moment of the step's life, not always right at its start.
        deadline = time.monotonic() + rng.uniform(0.0, 1.5)
        wait_until(lambda d=deadline: time.monotonic() >= d, interval=0.01)
        lost_at = time.monotonic()
        celery_worker.kill()
        try:
            wait_until(lambda: reap()["lost"] >= 1, timeout=30, interval=0.2, message=f"round {round_}: lost")
        finally:
            celery_worker.start()
            celery_worker.wait_ready()
        done = wait_done(execution, timeout=60)
        assert time.monotonic() - lost_at < 60
        assert done.status == "success", f"round {round_}"
        history = list(StepAttempt.objects.filter(step__execution=done).values_list("number", "status"))
        assert history == [(1, StepStatus.LOST), (2, StepStatus.SUCCESS)], f"round {round_}"
    kill_orphans("seq 1 600")
    assert not Execution.objects.filter(status="running").exists()


def kill_orphans(fragment: str) -> None:
    """The killed worker's step processes were in their own session; end what is left of them."""
    for proc in psutil.process_iter(["cmdline"]):
        if fragment in " ".join(proc.info["cmdline"] or []):
            proc.kill()


def test_fifty_viewers_resume_without_a_gap_after_the_web_server_is_killed(celery_worker, tmp_path):
    port = free_port()
    server = AsgiServer.create("asgi-chaos", port=port)
    server.start()
    server.wait_ready()
    go = tmp_path / "go"
    execution = start(
        pipeline_yaml(
            "viewers",
            f"""
            - id: talk
              type: shell
              run: |
                for i in $(seq 1 300); do echo "one $i"; done
                while [ ! -e {go} ]; do sleep 0.05; done
                for i in $(seq 1 300); do echo "two $i"; sleep 0.002; done
            """,
        )
    )
    cookie = session_cookie(superuser())
    results: list[dict[int, str]] = [{} for _ in range(50)]
    errors: list[BaseException] = []
    first_phase = threading.Barrier(51)

    def viewer(seen: dict[int, str]) -> None:
        deadline = time.monotonic() + 240
        after, signalled = 0, False
        try:
            while after < 600 and time.monotonic() < deadline:
                url = f"ws://127.0.0.1:{port}/ws/executions/{execution.pk}/?after={after}"
                try:
                    with connect(url, additional_headers={"Cookie": f"sessionid={cookie}"}, close_timeout=0.2) as ws:
                        while after < 600:
                            message = json.loads(ws.recv(timeout=60))
                            if message["type"] != "log":
                                continue
                            assert message["seq"] == after + 1, f"got {message['seq']} after {after}"
                            seen[message["seq"]] = message["text"]
                            after = message["seq"]
                            if after == 300 and not signalled:
                                signalled = True
                                first_phase.wait(timeout=60)
                except (OSError, WebSocketException):  # the server went away: reconnect with after=
                    wait_until(lambda: server_up(port), timeout=60, interval=0.05)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=viewer, args=(results[i],), daemon=True) for i in range(50)]
    for thread in threads:
        thread.start()
    try:
        first_phase.wait(timeout=120)  # every viewer has lines 1..300
        server.kill()
        server.start()
        server.wait_ready()
        go.touch()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        server.stop()
    assert not errors, errors[:3]
    done = wait_done(execution)
    expected = dict(LogLine.objects.filter(execution=done).values_list("seq", "text"))
    assert len(expected) == 600
    for seen in results:
        assert seen == expected


def server_up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_four_workers_on_a_500_step_fan_out_run_each_attempt_once(celery_worker, tmp_path):
    side_effects = tmp_path / "runs"
    done = fan_out_on_extra_workers("fan500", side_effects, groups=2, width=250)
    assert done.status == "success"
    lines = side_effects.read_text().splitlines()
    assert len(lines) == len(set(lines)) == 500
    assert StepExecution.objects.filter(execution=done, attempt=1, status=StepStatus.SUCCESS).count() == 500


MARIADB = "/usr/sbin/mariadbd"


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def restart_mariadb() -> None:
    """Stop the MariaDB server this suite runs on and start it again, as an operator's restart would."""
    import subprocess

    subprocess.run(["start-stop-daemon", "--stop", "--exec", MARIADB, "--retry", "30"], check=True, timeout=60)
    wait_until(lambda: not port_open(3306), timeout=60, interval=0.1, message="MariaDB stopped")
    subprocess.run(
        ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", MARIADB], check=True, timeout=60
    )
    wait_until(lambda: port_open(3306), timeout=120, interval=0.1, message="MariaDB answers again")


@pytest.mark.mariadb
def test_the_engine_rides_out_a_database_restart(celery_worker, tmp_path):
    from django.db import connection

    assert connection.vendor == "mysql", "this test restarts the MariaDB server: run it with DATABASE_URL=mysql://..."
    half = tmp_path / "half"
    execution = start(
        pipeline_yaml(
            "db-restart",
            f"""
            - id: talk
              type: shell
              run: |
                for i in $(seq 1 100); do echo "line $i"; done
                touch {half}
                for i in $(seq 101 200); do echo "line $i"; sleep 0.05; done
            - {{id: after, type: shell, needs: [talk], run: echo after}}
            """,
        )
    )
    wait_until(half.exists, timeout=60, message="the step is halfway")
    restart_mariadb()
    connection.close()
    done = wait_until(
        lambda: Execution.objects.filter(pk=execution.pk, status__in=["success", "failed", "canceled"]).first(),
        timeout=180,
        interval=0.5,
        message="the run ends after the database restart",
    )
    assert done.status == "success"
    assert not StepExecution.objects.filter(execution=done, status__in=["running", "queued", "pending"]).exists()
    seqs = list(LogLine.objects.filter(execution=done).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    texts = list(LogLine.objects.filter(execution=done, step__step_id="talk").values_list("text", flat=True))
    assert texts == [f"line {i}" for i in range(1, 201)]
