"""A bound on the HTTP requests one web process runs at once.

Under ASGI, Django runs each request's sync code in a thread of its own, and each thread opens its own
database connection. Without a bound, 200 concurrent API clients mean 200 connections from one process,
more than MariaDB's default ``max_connections`` (151): the surplus requests fail with "Too many
connections". This middleware lets at most ``WEB_MAX_CONCURRENT_REQUESTS`` requests into Django and queues
the others (they wait, they do not fail). Health probes and ``/metrics`` pass by the queue, so a busy
process still answers its liveness checks and shows its queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Scope = dict[str, Any]
App = Callable[..., Awaitable[None]]

BYPASS = ("/healthz", "/readyz", "/metrics")


@dataclass
class RequestGauges:
    """This process's requests inside Django and waiting for a place (read by ``/metrics``)."""

    limit: int = 0
    in_flight: int = 0
    waiting: int = 0


GAUGES = RequestGauges()


class RequestLimit:
    """ASGI middleware: at most ``limit`` HTTP requests inside ``app`` at a time (0 = no bound)."""

    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._places: asyncio.Semaphore | None = None
        GAUGES.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope.get("path") in BYPASS:
            await self.app(scope, receive, send)
            return
        if self._places is None:
            self._places = asyncio.Semaphore(self.limit)
        GAUGES.waiting += 1
        try:
            await self._places.acquire()
        finally:
            GAUGES.waiting -= 1
        GAUGES.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            GAUGES.in_flight -= 1
            self._places.release()
