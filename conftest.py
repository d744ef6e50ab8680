"""Suite-wide fixtures: the real Redis server, Celery worker and ASGI server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from ansflow import runtime
from ansflow.testing import AsgiServer, CeleryWorker, ManagedProcess, RedisServer, output_dir


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[str]:
    """The suite's Redis: the bundled server on the data dir's socket, or the external REDIS_URL (flushed)."""
    if settings.REDIS_EMBEDDED:
        settings.REDIS_EMBEDDED_SOCKET.unlink(missing_ok=True)
        server = ManagedProcess(
            "redis",
            runtime.redis_server_argv(settings.REDIS_EMBEDDED_SOCKET, settings.DATA_DIR / "redis"),
            {},
            output_dir() / "redis.log",
        )
        server.start()
        try:
            runtime.wait_for_redis(settings.REDIS_URL, process=server.process)
            yield settings.REDIS_URL
        finally:
            server.stop()
    else:
        # A dedicated database number for tests: start it empty so no stale task runs.
        redis.Redis.from_url(settings.REDIS_URL).flushdb()
        yield settings.REDIS_URL


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: Any, django_db_blocker: Any, redis_server: str) -> Iterator[CeleryWorker]:
    """One real Celery worker for the session. Tests using it need ``django_db(transaction=True)``."""
    with django_db_blocker.unblock():
        worker = CeleryWorker.create()
    worker.start()
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup: Any, django_db_blocker: Any, redis_server: str) -> Iterator[AsgiServer]:
    """One real uvicorn serving the app over HTTP and WebSocket on a free loopback port."""
    with django_db_blocker.unblock():
        server = AsgiServer.create()
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def spare_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A second bundled Redis server a test may stop and start at will."""
    server = RedisServer.create("spare-redis", tmp_path_factory.mktemp("redis", numbered=True))
    server.start()
    server.wait_ready()
    yield server
    server.stop()
