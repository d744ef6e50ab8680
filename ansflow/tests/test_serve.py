"""`manage.py serve` as `make run` starts it: the whole group comes up, stops together, and a crash stops it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from ansflow.testing import free_port, wait_until


def embedded_env(data_dir: Path) -> dict[str, str]:
    """Nothing set but a fresh data dir: the embedded default (SQLite file + bundled Redis)."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ANSFLOW_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING")
    return env


@pytest.fixture
def stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("serve")
    env = embedded_env(data_dir)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, check=True, timeout=120)
    port = free_port()
    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, (data_dir / "serve.log").read_text()
        try:
            return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=90, interval=0.2, message="serve answers /readyz with 200")
    yield proc, url, data_dir
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def group_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    return [child.pid for child in psutil.Process(proc.pid).children(recursive=True)]


def all_gone(pids: list[int]) -> bool:
    return not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)


def test_serve_runs_the_embedded_stack_and_sigterm_stops_all_of_it(stack):
    proc, url, data_dir = stack
    body = httpx.get(f"{url}/readyz", timeout=5).json()
    assert body["checks"]["database"]["detail"] == "sqlite"
    assert (data_dir / "redis.sock").exists()
    names = {psutil.Process(pid).name() for pid in group_pids(proc)}
    assert any("redis-server" in name for name in names)
    pids = group_pids(proc)
    assert len(pids) >= 5  # redis, worker (+ pool), beat, web
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    wait_until(lambda: all_gone(pids), timeout=30, message="every child process ended")


def test_a_crashed_child_is_reported_and_the_group_stops(stack):
    proc, _url, data_dir = stack
    beat = next(p for p in psutil.Process(proc.pid).children() if "beat" in " ".join(p.cmdline()))
    pids = group_pids(proc)
    beat.kill()
    assert proc.wait(timeout=60) == 1
    wait_until(lambda: all_gone(pids), timeout=30, message="every child process ended")
    assert "celery-beat exited with code" in (data_dir / "serve.log").read_text()
