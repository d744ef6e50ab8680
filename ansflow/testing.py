"""Test helpers shared by every app's tests: real processes started like `serve` starts them.

The suite runs the real parts: a bundled Redis server (or the external one named
by ``REDIS_URL``), Celery workers and an ASGI server as subprocesses that share
the test database with the pytest process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from django.conf import settings
from django.db import connection

from ansflow import runtime

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02, message: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {message or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """A DATABASE_URL for the database this test process uses (the test database once set up)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("mysql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"mysql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"
    raise RuntimeError(f"no subprocess URL for database engine {db['ENGINE']}")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must see this process's database and Redis."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ansflow.settings",
        ANSFLOW_DATA_DIR=str(settings.DATA_DIR),
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class ManagedProcess:
    """A subprocess in its own process group, with its output in a log file for failure reports."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=settings.BASE_DIR
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def output_dir() -> Path:
    path = Path(settings.DATA_DIR) / "test-output"
    path.mkdir(parents=True, exist_ok=True)
    return path


class CeleryWorker(ManagedProcess):
    """A real Celery worker (prefork pool) consuming from the test broker."""

    @classmethod
    def create(cls, name: str = "test-worker", concurrency: int = 2, **env: str) -> CeleryWorker:
        hostname = f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h"
        argv = [sys.executable, "-m", "celery", "-A", "ansflow", "worker", "--loglevel", "INFO",
                "--concurrency", str(concurrency), "--hostname", hostname,
                "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        worker = cls(name, argv, subprocess_env(**env), output_dir() / f"{name}.log")
        worker.hostname = hostname.replace("%h", socket.gethostname())
        return worker

    hostname: str = ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        from ansflow.celery import app

        def answered() -> bool:
            if not self.alive():
                raise AssertionError(f"Celery worker exited early:\n{self.output()[-4000:]}")
            replies = app.control.ping(destination=[self.hostname], timeout=0.5)
            return bool(replies)

        wait_until(answered, timeout=timeout, interval=0.1, message=f"worker {self.hostname} answers ping")


class AsgiServer(ManagedProcess):
    """A real uvicorn serving ``ansflow.asgi`` on a free loopback port."""

    port: int = 0

    @classmethod
    def create(cls, name: str = "asgi", port: int | None = None, **env: str) -> AsgiServer:
        chosen = port or free_port()
        argv = [sys.executable, "-m", "uvicorn", "ansflow.asgi:application", "--host", "127.0.0.1",
                "--port", str(chosen), "--lifespan", "off", "--log-level", "warning", "--no-access-log",
                *runtime.UVICORN_WS_FLAGS]  # fmt: skip
        server = cls(name, argv, subprocess_env(**env), output_dir() / f"{name}.log")
        server.port = chosen
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        def up() -> bool:
            if not self.alive():
                raise AssertionError(f"ASGI server exited early:\n{self.output()[-4000:]}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=timeout, interval=0.05, message=f"{self.url}/healthz answers")


class RedisServer(ManagedProcess):
    """A bundled redis-server on a unix socket of its own."""

    socket_path: Path = Path()

    @classmethod
    def create(cls, name: str, directory: Path) -> RedisServer:
        directory.mkdir(parents=True, exist_ok=True)
        sock = directory / "redis.sock"
        server = cls(name, runtime.redis_server_argv(sock, directory), dict(os.environ), output_dir() / f"{name}.log")
        server.socket_path = sock
        return server

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def wait_ready(self, timeout: float = 15.0) -> None:
        runtime.wait_for_redis(self.url, timeout=timeout, process=self.process)


def session_cookie(user: Any) -> str:
    """A session cookie value for ``user``, stored in the test database the servers read."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


# --- the browser tests: Debian's Chromium driven by Playwright (never a downloaded browser build) ---------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
BROWSER_TIMEOUT_MS = 30_000


def sign_in(page: Any, base: str, username: str) -> None:
    """Signs ``username`` (a user made by the account factories, so with their password) in on ``page``."""
    from apps.accounts.tests.factories import PASSWORD

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def answering_dialog(page: Any, accept: bool = True) -> list[str]:
    """Answer ``page``'s next dialog (a confirmation); the list receives its message.

    A click that opens the dialog returns once it is answered, so the list is filled by then.
    """
    seen: list[str] = []

    def answer(dialog: Any) -> None:
        seen.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", answer)
    return seen


def signed_in_page(browser: Any, base: str, username: str, width: int = 1280, height: int = 800) -> Any:
    """A new page of ``browser`` at ``width`` x ``height`` with ``username`` signed in."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    sign_in(page, base, username)
    return page
