"""Issue 5 §6 (c): many idle viewers and a few active ones on one ASGI process.

Idle viewers watch a finished execution (they hold a socket, a consumer and a group
membership, and receive nothing but pings); the active ones watch a step printing
``tick <n> <time.time_ns()>`` every millisecond. Memory per connection is the growth
of the uvicorn process's resident set (psutil) from one warm connection to all idle
ones connected, divided by their number; delivery is print -> receive as in (a).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psutil

from . import live, pipelines

DELIVERY_P99_MS = 50.0


async def _run(server: Any, key: str, idle_execution: int, idle: int, active: int, ticker: Any, seconds: float):  # type: ignore[no-untyped-def]
    process = psutil.Process(server.pid)
    warm = await live.open_viewer(live.ws_url(server, idle_execution, key))
    await warm.close()
    rss_before = process.memory_info().rss
    began = time.monotonic()
    idle_sockets = await live.open_viewers(live.ws_url(server, idle_execution, key), idle)
    connect_seconds = time.monotonic() - began
    drains = [asyncio.ensure_future(live.drain(ws)) for ws in idle_sockets]
    rss_idle = process.memory_info().rss
    count = int(seconds * 1000)
    latencies: list[float] = []
    received: list[int] = []
    try:
        execution, _ = await asyncio.to_thread(pipelines.start, ticker)
        active_sockets = await live.open_viewers(live.ws_url(server, execution.pk, key), active)
        since = time.time_ns()
        cpu = live.CpuShare(server.pid)  # from the first tick received to the last
        deadline = time.monotonic() + 3.0 + seconds + 60
        received = list(
            await asyncio.gather(
                *(live.collect_ticks(ws, count, deadline, lambda: since, latencies, cpu.start) for ws in active_sockets)
            )
        )
        server_cpu = cpu.stop() if cpu.started else 0.0
        rss_end = process.memory_info().rss
        await live.close_all(active_sockets)
    finally:
        await live.close_all(idle_sockets)
        for task in drains:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return {
        "execution": execution,
        "rss_before": rss_before,
        "rss_idle": rss_idle,
        "rss_end": rss_end,
        "connect_seconds": connect_seconds,
        "latencies": latencies,
        "received": received,
        "count": count,
        "server_cpu_share": server_cpu,
    }


def measure(idle: int, active: int, seconds: float, timeout: float = 120) -> dict[str, Any]:
    finished, _ = pipelines.run_once(pipelines.import_pipeline(pipelines.chain_yaml(1)), timeout)
    ticker = pipelines.import_pipeline(live.ticker_yaml(f"bench-ticker-viewers-{idle}", int(seconds * 1000), 1.0, 3.0))
    key = live.api_key("bench-viewers")
    error = ""
    with live.asgi_server("bench-asgi-viewers") as server:
        got = asyncio.run(_run(server, key, finished.pk, idle, active, ticker, seconds))
        try:
            pipelines.wait_finished(got["execution"], timeout)
        except pipelines.RunFailed as exc:
            error = str(exc)
    missing = sum(got["count"] - r for r in got["received"])
    if missing and not error:
        error = f"{missing} ticks not received in time across {active} active viewers"
    figures = live.summary(got["latencies"])
    per_connection = (got["rss_idle"] - got["rss_before"]) / idle
    return {
        "idle": idle,
        "active": active,
        "viewer_mode": live.VIEWER_MODE,
        "lines": got["count"],
        "rss_before_mb": round(got["rss_before"] / 2**20, 1),
        "rss_idle_mb": round(got["rss_idle"] / 2**20, 1),
        "rss_end_mb": round(got["rss_end"] / 2**20, 1),
        "kib_per_connection": round(per_connection / 1024, 1),
        "idle_connect_seconds": round(got["connect_seconds"], 2),
        "delivery": figures,
        "server_cpu_share": got["server_cpu_share"],
        "target": f"p99 delivery <= {DELIVERY_P99_MS:g} ms (as in (a)); memory per connection reported",
        "met": bool(figures["p99_ms"] <= DELIVERY_P99_MS and not error),
        "error": error,
    }
