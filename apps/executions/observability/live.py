"""Live WebSocket connections, counted across every web process in one Redis hash.

Each web process keeps its own count under a field named after its host and pid;
``/metrics`` sums the fields. A field expires with its process: while it has
counted a socket, the process refreshes a per-process key with a time-to-live,
and fields whose key has lapsed (the process was killed) are ignored and removed
at the next read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading

import redis
from django.conf import settings

logger = logging.getLogger("ansflow.metrics")

HASH = "ansflow:metrics:ws"
ALIVE = "ansflow:metrics:ws-alive:"
ALIVE_TTL = 60
REFRESH_EVERY = 20.0

_count = 0
_lock = threading.Lock()  # the count and its write to Redis change together, in order
_refresher: asyncio.Task[None] | None = None


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1.0, socket_connect_timeout=1.0)


def _process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _publish(delta: int) -> None:
    global _count
    name = _process()
    with _lock:
        _count = max(0, _count + delta)
        try:
            pipe = _client().pipeline()
            pipe.hset(HASH, name, _count)
            pipe.set(ALIVE + name, 1, ex=ALIVE_TTL)
            pipe.execute()
        except redis.RedisError:
            logger.warning("could not record the WebSocket connection count", exc_info=True)


def _refresh() -> None:
    try:
        _client().set(ALIVE + _process(), 1, ex=ALIVE_TTL)
    except redis.RedisError:
        logger.warning("could not refresh the WebSocket connection count", exc_info=True)


async def _keep_alive() -> None:
    while True:
        await asyncio.sleep(REFRESH_EVERY)
        await asyncio.to_thread(_refresh)


async def socket_opened() -> None:
    """Called by a consumer once its socket is accepted and authorised."""
    global _refresher
    if _refresher is None or _refresher.done():
        _refresher = asyncio.ensure_future(_keep_alive())
    await asyncio.to_thread(_publish, 1)


async def socket_closed() -> None:
    """Called by a consumer that counted itself with :func:`socket_opened`, when it disconnects."""
    await asyncio.to_thread(_publish, -1)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def live_connections() -> int:
    """Open WebSocket connections over every live web process."""
    client = _client()
    fields = {_text(k): int(v) for k, v in client.hgetall(HASH).items()}
    if not fields:
        return 0
    names = list(fields)
    alive = client.mget([ALIVE + name for name in names])
    dead = [name for name, flag in zip(names, alive, strict=True) if flag is None]
    if dead:
        client.hdel(HASH, *dead)
    return sum(fields[name] for name, flag in zip(names, alive, strict=True) if flag is not None)
