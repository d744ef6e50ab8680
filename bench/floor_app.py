"""The floor: a bare Celery app on AnsFlow's broker whose task only spawns ``true``.

Its worker is started exactly like AnsFlow's (prefork, same concurrency, same
flags, each task logged at INFO as AnsFlow's worker logs it) and consumes its own
queue, so the two workers never take each other's messages. A task counts itself
done in Redis; the one that completes a run pushes the wall-clock time, which is
how the benchmark learns when a chain or a group has finished without a result
backend.
"""

from __future__ import annotations

import os
import subprocess
import time

import redis
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")

from django.conf import settings

QUEUE = "bench-floor"

# Not the current app: AnsFlow's shared tasks sent from this process must keep using AnsFlow's app.
app = Celery("bench_floor", set_as_current=False)
app.conf.update(
    broker_url=settings.CELERY_BROKER_URL,
    broker_transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=settings.CELERY_TASK_ACKS_LATE,
    task_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
)

_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        # No socket timeout (redis-py's default is 5 s): BLPOP waits server-side for up to the run's timeout.
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None)
    return _client


def done_key(run: str) -> str:
    return f"bench:floor:{run}:done"


@app.task(name="bench.spawn_true")
def spawn_true(run: str, total: int) -> None:
    """Spawn ``true``; the task that completes ``total`` pushes the time it finished."""
    subprocess.run(["true"], check=True)
    finished = time.time()
    if client().incr(f"bench:floor:{run}:count") == total:
        client().rpush(done_key(run), repr(finished))
