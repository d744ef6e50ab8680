"""Shared parts of the live-log benchmarks: a real uvicorn, a token, viewers over ``websockets``, percentiles.

Viewers ask for batched messages (``batch=1``), as the execution page and the CLI do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection, connect

from ansflow.testing import AsgiServer
from apps.accounts.services.tokens import token_create

from . import pipelines

TICKER = Path(__file__).resolve().parent / "ticker.py"
VIEWER_MODE = "batch=1"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def raise_open_files() -> int:
    """Lift this process's soft descriptor limit to the hard one (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.contextmanager
def asgi_server(name: str) -> Iterator[AsgiServer]:
    """One uvicorn process serving HTTP and WebSocket on a free loopback port, as ``serve`` runs it."""
    raise_open_files()
    server = AsgiServer.create(name=name)
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def api_key(name: str) -> str:
    """A new API token of the benchmark superuser."""
    user = pipelines.actor()
    return token_create(actor=user, user=user, name=name)[1]


def ticker_yaml(name: str, count: int, interval_ms: float, delay: float) -> str:
    """One shell step running the ticker: ``count`` timestamped lines, one every ``interval_ms``."""
    command = shlex.join([sys.executable, str(TICKER), str(count), f"{interval_ms:g}", f"{delay:g}"])
    head = (
        f"apiVersion: ansflow/v1\nkind: Pipeline\nmetadata: {{name: {name}, project: {pipelines.PROJECT}}}\n"
        "spec:\n  steps:\n"
    )
    return head + f"    - id: tick\n      type: shell\n      run: |\n        exec {command}\n"


def ws_url(server: AsgiServer, execution_id: int, key: str, after: int = 0) -> str:
    return f"{server.ws_url}/ws/executions/{execution_id}/?after={after}&{VIEWER_MODE}&token={key}"


def log_lines(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The log lines a socket message carries: a batch's, one line's, or none."""
    if message.get("type") == "logs":
        return list(message["lines"])
    return [message] if message.get("type") == "log" else []


async def open_viewer(url: str) -> ClientConnection:
    """Connect and wait for the snapshot, so the viewer has joined the group and read its backlog."""
    ws = await connect(url, max_size=None, open_timeout=30, ping_interval=None)
    first = json.loads(await asyncio.wait_for(ws.recv(), 30))
    if first.get("type") in ("log", "logs"):
        raise RuntimeError("the socket sent a log line before its snapshot")
    return ws


async def open_viewers(url: str, count: int, parallel: int = 50) -> list[ClientConnection]:
    gate = asyncio.Semaphore(parallel)

    async def one() -> ClientConnection:
        async with gate:
            return await open_viewer(url)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def drain(ws: ClientConnection) -> None:
    """Read and drop whatever an idle viewer gets (pings), so its socket never backs up."""
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


async def collect_ticks(
    ws: ClientConnection,
    count: int,
    deadline: float,
    since_ns: Callable[[], int],
    into: list[float],
    on_tick: Callable[[], None] = lambda: None,
) -> int:
    """Receive until tick ``count`` (or ``deadline``, monotonic); latency (ms) of each tick printed after
    ``since_ns()`` goes into ``into``; ``on_tick`` is called on every message with ticks. Returns the ticks
    received."""
    seen = 0

    async def receive() -> None:
        nonlocal seen
        async for raw in ws:  # one timeout around the whole loop: a timer per message would cost more
            now = time.time_ns()
            lines = log_lines(json.loads(raw))
            if not lines:
                continue
            since = since_ns()  # once per message: the viewers share one process, keep its work small
            ticked = False
            for line in lines:
                text = line["text"]
                if not text.startswith("tick "):
                    continue
                _, n, printed = text.split()
                seen += 1
                ticked = True
                at = int(printed)
                if at >= since:
                    into.append((now - at) / 1e6)
                if int(n) >= count:
                    on_tick()
                    return
            if ticked:
                on_tick()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
    return seen


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


class CpuShare:
    """CPU seconds a process used per wall second between ``start()`` and ``stop()`` (1.0 = one core)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    started = False

    def start(self) -> None:
        """Starts the window (again only if not started yet: usable as a first-event hook)."""
        if self.started:
            return
        self.started = True
        times = self.process.cpu_times()
        self.cpu, self.wall = times.user + times.system, time.monotonic()

    def stop(self) -> float:
        times = self.process.cpu_times()
        elapsed = time.monotonic() - self.wall
        return round((times.user + times.system - self.cpu) / elapsed, 3) if elapsed > 0 else 0.0


def summary(latencies: list[float]) -> dict[str, Any]:
    return {
        "samples": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3) if latencies else float("nan"),
    }
