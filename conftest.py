"""Suite-wide fixtures: the real Redis server, Celery worker and ASGI server, the Kubernetes cluster and Chromium."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from django.conf import settings

from ansflow import runtime
from ansflow.testing import CHROMIUM, CHROMIUM_ARGS, AsgiServer, CeleryWorker, ManagedProcess, RedisServer, output_dir

if TYPE_CHECKING:
    from apps.k8s_integration.tests.cluster import KubeCluster


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
    try:  # a start that fails half-way stops what it did start
        server.start()
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """A real Kubernetes v1.20 cluster (etcd, control plane, containerd, kubelet) for the session.

    Tests using it are marked ``pytest.mark.k8s`` (``make test-k8s``). Without the binaries it fails and
    names the command that provides them; it never skips.
    """
    from apps.k8s_integration.tests.cluster import CACHE_DIR, KubeCluster, missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.fail(
            "the Kubernetes cluster tier needs binaries that are not there:\n  " + "\n  ".join(missing)
            + f"\nRun once: make k8s-cluster   (builds Kubernetes v1.20.2 into {CACHE_DIR}, about 12 minutes;"
            " installs etcd, containerd, runc, podman from Debian; unzips Helm)",
            pytrace=False,
        )  # fmt: skip
    cluster = KubeCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the cluster for one test, named after it; deleted (in the background) afterwards."""
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "test"
    name = kube_cluster.namespace(prefix)
    yield name
    kube_cluster.delete_namespace(name)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Debian's headless Chromium through Playwright, for tests marked ``pytest.mark.browser``."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not os.path.exists(CHROMIUM):
        raise AssertionError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shots() -> Path:
    """Where browser tests put their screenshots: ``<data dir>/test-output/screenshots/``."""
    path = output_dir() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
