"""Process control on a real worker: timeouts and cancel kill the whole process group; a killed worker's
step is reaped as lost and retried; several workers never run one attempt twice."""

from __future__ import annotations

import contextlib
import os

import psutil
import pytest

from ansflow.testing import wait_until
from apps.executions.choices import StepStatus
from apps.executions.engine.reaper import reap
from apps.executions.models import Execution, StepAttempt, StepExecution
from apps.executions.services import execution_cancel

from .helpers import fan_out_on_extra_workers, log_text, pipeline_yaml, run, start, statuses, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_pids(path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_timeout_kills_the_step_and_its_grandchildren(celery_worker, tmp_path):
    pids = tmp_path / "pids"
    execution = run(
        pipeline_yaml(
            "timeout",
            f"""
            - id: slow
              type: shell
              timeout: 1s
              run: |
                sleep 300 &
                echo $! >> {pids}
                bash -c 'sleep 300 & echo $! >> {pids}; wait' &
                echo $$ >> {pids}
                wait
            """,
        )
    )
    step = execution.steps.get()
    assert step.status == StepStatus.TIMED_OUT
    assert execution.status == "failed"
    assert len(read_pids(pids)) == 3
    wait_until(lambda: all(gone(pid) for pid in read_pids(pids)), timeout=15, message="all step processes ended")
    assert any("timed out after 1 s" in line for line in log_text(execution))


def test_a_step_that_ignores_sigterm_at_its_timeout_is_killed_after_the_grace_period(celery_worker):
    execution = run(
        pipeline_yaml(
            "stubborn",
            """
            - id: stubborn
              type: shell
              timeout: 1s
              run: |
                trap 'echo cleaning up' TERM
                echo started
                while true; do sleep 0.1; done
            """,
        )
    )
    assert execution.steps.get().status == StepStatus.TIMED_OUT
    lines = log_text(execution)
    assert "started" in lines
    assert "cleaning up" in lines
    assert any("timed out after 1 s" in line for line in lines)


def test_cancel_kills_the_running_process_group_and_ends_queued_steps(celery_worker, tmp_path):
    pids = tmp_path / "pids"
    execution = start(
        pipeline_yaml(
            "cancel",
            f"""
            - id: long
              type: shell
              run: |
                sleep 300 &
                echo $! >> {pids}
                echo $$ >> {pids}
                wait
            - {{id: next, type: shell, needs: [long], run: "true"}}
            """,
        )
    )
    wait_until(lambda: len(read_pids(pids)) == 2, message="the step started both processes")
    execution_cancel(actor=superuser(), execution=execution)
    done = wait_done(execution)
    assert done.status == "canceled"
    assert statuses(done) == {"long": StepStatus.CANCELED, "next": StepStatus.CANCELED}
    wait_until(lambda: all(gone(pid) for pid in read_pids(pids)), timeout=15, message="step processes killed")


def test_a_killed_worker_leaves_its_step_lost_and_the_retry_runs_elsewhere(celery_worker, settings, tmp_path):
    settings.HEARTBEAT_TIMEOUT = 2.0
    started, orphan = tmp_path / "started", tmp_path / "orphan.pid"
    execution = start(
        pipeline_yaml(
            "killed",
            f"""
            - id: victim
              type: shell
              retry: {{max: 1, on: [lost]}}
              run: |
                if [ "$ANSFLOW_ATTEMPT" = 1 ]; then echo $$ > {orphan}; fi
                echo "$ANSFLOW_ATTEMPT" >> {started}
                if [ "$ANSFLOW_ATTEMPT" = 1 ]; then exec sleep 300; fi
            """,
        )
    )
    wait_until(lambda: started.exists(), message="attempt 1 started")
    step = StepExecution.objects.get(execution=execution)
    pool_pid = int(step.worker.rsplit(":", 1)[1])
    assert pool_pid in [c.pid for c in psutil.Process(celery_worker.pid).children(recursive=True)]
    celery_worker.kill()
    try:
        wait_until(lambda: reap()["lost"] == 1, timeout=30, interval=0.2, message="the reaper marks the step lost")
    finally:
        celery_worker.start()
        celery_worker.wait_ready()
    done = wait_done(execution)
    assert done.status == "success"
    history = list(StepAttempt.objects.filter(step__execution=execution).values_list("number", "status"))
    assert history == [(1, StepStatus.LOST), (2, StepStatus.SUCCESS)]
    assert any("stopped heartbeating" in line for line in log_text(done))
    # The first attempt's process outlived its worker (SIGKILL reaches no step): end it, and only it.
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(int(orphan.read_text())).kill()


def test_a_killed_pool_process_leaves_no_step_process_running_beside_the_retry(celery_worker, settings, tmp_path):
    settings.HEARTBEAT_TIMEOUT = 2.0
    pids, seen = tmp_path / "pids", tmp_path / "seen"
    execution = start(
        pipeline_yaml(
            "pool-killed",
            f"""
            - id: victim
              type: shell
              retry: {{max: 1, on: [lost]}}
              run: |
                if [ "$ANSFLOW_ATTEMPT" = 1 ]; then
                  sleep 300 &
                  echo $! >> {pids}
                  echo $$ >> {pids}
                  wait
                fi
                # The retry looks at what attempt 1 started: running (R/S), ended (Z, or gone).
                for pid in $(cat {pids}); do
                  echo "$(awk '{{print $3}}' /proc/$pid/stat 2>/dev/null || echo gone)" >> {seen}
                done
            """,
        )
    )
    wait_until(lambda: len(read_pids(pids)) == 2, message="attempt 1 started its processes")
    step = StepExecution.objects.get(execution=execution)
    pool = psutil.Process(int(step.worker.rsplit(":", 1)[1]))
    main = psutil.Process(celery_worker.pid)
    assert pool.ppid() == main.pid
    pool.kill()  # only the pool process, as the kernel's OOM killer would: the worker's main process lives on
    # Its step's processes are adopted by the main process and ended, long before the step is declared lost.
    wait_until(lambda: all(gone(pid) for pid in read_pids(pids)), timeout=15, message="attempt 1's processes ended")
    wait_until(lambda: reap()["lost"] == 1, timeout=30, interval=0.2, message="the reaper marks the step lost")
    done = wait_done(execution)
    assert done.status == "success"
    history = list(StepAttempt.objects.filter(step__execution=execution).values_list("number", "status"))
    assert history == [(1, StepStatus.LOST), (2, StepStatus.SUCCESS)]
    states = seen.read_text().split()
    assert len(states) == 2
    assert set(states) <= {"Z", "gone"}, states
    # Reaped by the main process, not left as zombies.
    wait_until(
        lambda: not any(pid in read_pids(pids) for pid in (c.pid for c in main.children())),
        timeout=15,
        message="the main process reaped them",
    )
    assert main.is_running()


def test_many_workers_and_duplicate_messages_never_run_an_attempt_twice(celery_worker, tmp_path):
    side_effects = tmp_path / "runs"
    count = 300
    done = fan_out_on_extra_workers("fanout", side_effects, groups=3, width=100, duplicate_messages=True, timeout=240)
    assert done.status == "success"
    lines = side_effects.read_text().splitlines()
    assert len(lines) == count
    assert len(set(lines)) == count
    assert StepAttempt.objects.filter(step__execution=done).count() == count
    workers = set(StepExecution.objects.filter(execution=done).values_list("worker", flat=True))
    assert len(workers) > 1


def test_reaper_finishes_nothing_that_is_healthy(celery_worker):
    execution = run(pipeline_yaml("healthy", "- {id: a, type: shell, run: 'true'}"))
    assert reap()["lost"] == 0
    assert Execution.objects.get(pk=execution.pk).status == "success"


def holds_database_connection(pid: int) -> bool:
    """Whether the process has the test database open: the SQLite file, or a TCP connection to the server."""
    from django.db import connection

    process = psutil.Process(pid)
    if connection.vendor == "sqlite":
        name = os.path.realpath(connection.settings_dict["NAME"])
        return any(os.path.realpath(f.path) == name for f in process.open_files())
    port = int(connection.settings_dict["PORT"] or 3306)
    return any(c.raddr and c.raddr.port == port for c in process.net_connections(kind="tcp"))


def test_a_worker_process_keeps_its_database_connection_from_task_to_task(celery_worker):
    from ansflow.celery import app

    execution = run(pipeline_yaml("keep-connection", "- {id: only, type: shell, run: 'true'}"))
    assert execution.status == "success"
    pid = int(execution.steps.get().worker.rsplit(":", 1)[1])

    def idle() -> bool:
        # Celery reports a task done after its task_postrun handlers ran (where connections are recycled).
        replies = app.control.inspect(destination=[celery_worker.hostname], timeout=1.0).active()
        return replies is not None and not replies.get(celery_worker.hostname)

    wait_until(idle, timeout=30, message="the worker has no task running")
    assert holds_database_connection(pid), "the pool process closed its database connection after the task"
