"""One backend's benchmarks, in a process of its own so Django reads its settings fresh.

``python -m bench.suite --label NAME --json OUT [--only NAME] [--quick]``: migrates
the database the environment names, starts the bundled Redis when no ``REDIS_URL``
is set (or flushes the external one), runs the in-process query count, then starts
one AnsFlow worker and one floor worker and runs the timed benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")

import django

django.setup()

import celery  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from ansflow import runtime  # noqa: E402
from ansflow.celery import app as ansflow_app  # noqa: E402
from ansflow.testing import CeleryWorker, ManagedProcess, output_dir, subprocess_env  # noqa: E402

from . import load, logs, measure, metrics, queries, scale, viewers  # noqa: E402
from .report import BENCHMARKS  # noqa: E402

WORKER_CONCURRENCY = 2
# load before scale: the seeded history would otherwise be under the loads list requests too
LIVE_BENCHMARKS = ("logs_latency", "logs_throughput", "viewers", "load", "scale")
WITH_WORKERS = ("chain", "fanout", *LIVE_BENCHMARKS)


@contextlib.contextmanager
def redis_server() -> Iterator[None]:
    """The bundled server on the data dir's socket, or the external ``REDIS_URL`` flushed first."""
    if not settings.REDIS_EMBEDDED:
        redis.Redis.from_url(settings.REDIS_URL).flushdb()
        yield
        return
    settings.REDIS_EMBEDDED_SOCKET.unlink(missing_ok=True)
    argv = runtime.redis_server_argv(settings.REDIS_EMBEDDED_SOCKET, settings.DATA_DIR / "redis")
    server = ManagedProcess("redis", argv, {}, output_dir() / "redis.log")
    server.start()
    try:
        runtime.wait_for_redis(settings.REDIS_URL, process=server.process)
        yield
    finally:
        server.stop()


def floor_worker() -> CeleryWorker:
    """The floor's worker, started with exactly the flags AnsFlow's test worker uses."""
    hostname = f"bench-floor-{os.getpid()}-{time.monotonic_ns()}@%h"
    argv = [sys.executable, "-m", "celery", "-A", "bench.floor_app", "worker", "--loglevel", "INFO",
            "--concurrency", str(WORKER_CONCURRENCY), "--hostname", hostname,
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    worker = CeleryWorker("bench-floor", argv, subprocess_env(), output_dir() / "bench-floor.log")
    worker.hostname = hostname.replace("%h", socket.gethostname())
    return worker


@contextlib.contextmanager
def workers() -> Iterator[None]:
    started = [CeleryWorker.create(name="bench-ansflow", concurrency=WORKER_CONCURRENCY), floor_worker()]
    try:
        for worker in started:
            worker.start()
        for worker in started:
            worker.wait_ready()
        yield
    finally:
        for worker in started:
            worker.stop()


def environment(label: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SELECT VERSION()")
        db_version = cursor.fetchone()[0]
    redis_info = redis.Redis.from_url(settings.REDIS_URL).info("server")
    return {
        "backend": label,
        "database": f"{connection.vendor} {db_version}",
        "redis": f"redis-server {redis_info.get('redis_version')}" + (" (bundled)" if settings.REDIS_EMBEDDED else ""),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "celery": celery.__version__,
        "redis_py": redis.__version__,
        "platform": platform.platform(),
        "worker": f"prefork, concurrency {WORKER_CONCURRENCY}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # Other work on the machine shows here; the floor is re-measured beside every figure for this reason.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def say(label: str, text: str) -> None:
    print(f"bench: {label}: {text}", flush=True)


def run(label: str, only: list[str], quick: bool) -> dict[str, Any]:
    wanted = [name for name in BENCHMARKS if not only or name in only]
    reps = 1 if quick else 3
    chain_length, fanout_width = (20, 60) if quick else (100, 500)
    call_command("migrate", interactive=False, verbosity=0)
    if not settings.DEBUG:
        call_command("collectstatic", interactive=False, verbosity=0)  # the pages' static manifest
    results: dict[str, Any] = {"environment": {}, "quick": quick, "benchmarks": {}}
    with redis_server():
        results["environment"] = environment(label)
        results["environment"]["spawn"] = measure.spawn_costs(50 if quick else 300)
        say(label, f"{results['environment']['database']}, {results['environment']['redis']}")
        if "queries" in wanted:
            say(label, "statements per step (in-process)")
            results["benchmarks"]["queries"] = queries.measure(fanout_width=fanout_width)
            ansflow_app.control.purge()  # the in-process run sent messages no worker should get
        if "metrics" in wanted:
            say(label, "/metrics with a long history (in-process)")
            results["benchmarks"]["metrics"] = metrics.measure(30_000 if quick else 300_000, scrapes=3 if quick else 5)
            ansflow_app.control.purge()
        if any(name in wanted for name in WITH_WORKERS):
            with workers():
                if "chain" in wanted:
                    say(label, f"chain of {chain_length}, {reps} repetition(s)")
                    results["benchmarks"]["chain"] = measure.chain(chain_length, reps, timeout=180)
                if "fanout" in wanted:
                    say(label, f"fan-out of {fanout_width}, {reps} repetition(s)")
                    results["benchmarks"]["fanout"] = measure.fanout(fanout_width, reps, timeout=300)
                for name in LIVE_BENCHMARKS:
                    if name in wanted:
                        say(label, name)
                        results["benchmarks"][name] = run_live(name, label, quick, reps)
    return results


def run_live(name: str, label: str, quick: bool, reps: int) -> dict[str, Any]:
    """The benchmarks that serve HTTP and WebSocket from a real uvicorn beside the worker."""
    if name == "logs_latency":
        return logs.logs_latency(2.0 if quick else 10.0, timeout=120)
    if name == "logs_throughput":
        return logs.logs_throughput(100_000 if quick else 1_000_000, reps=1 if quick else 2, timeout=600)
    if name == "viewers":
        return viewers.measure(200 if quick else 1000, active=10, seconds=2.0 if quick else 5.0)
    if name == "scale":
        return scale.measure(scale.size(label, quick), requests=20 if quick else 60)
    if name == "load":
        return load.measure(clients=200, seconds=10.0 if quick else 60.0, running=20)
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suite")
    parser.add_argument("--label", required=True)
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--only", action="append", default=[], choices=BENCHMARKS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    # SIGTERM (the runner's time limit) unwinds normally, so the workers and Redis are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    results = run(args.label, args.only, args.quick)
    args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
