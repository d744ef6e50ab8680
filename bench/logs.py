"""Issue 5 §6 (a) and (b): print -> receive latency to 50 viewers, and lines/s of a million-line step.

(a) ``logs_latency``: a step prints ``tick <n> <time.time_ns()>`` every millisecond while
50 WebSocket viewers (one asyncio process) watch the execution on a real uvicorn; each
viewer compares the printed time with ``time.time_ns()`` on arrival (one machine, one
clock). Floor: a plain Redis PUBLISH of ``time.time_ns()`` every millisecond to one
SUBSCRIBE client, on the same Redis.

(b) ``logs_throughput``: ``seq 1 N`` in one step; lines/s persisted (N / start -> the
execution's ``finished_at``) and delivered to one viewer (N / start -> line N received).
Floor: ``seq 1 N`` read from a pipe in this process and inserted as the same ``LogLine``
rows with one ``executemany`` INSERT per batch of the sink's size, on the same database.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import threading
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from websockets.asyncio.client import connect

from apps.executions.choices import LogStream
from apps.executions.engine.logsink import FLUSH_LINES, sink_sql
from apps.executions.models import Execution, LogLine

from . import live, pipelines

LATENCY_P50_MS = 10.0
LATENCY_P99_MS = 50.0
THROUGHPUT_SHARE = 0.6
VIEWERS = 50


# --- (a) latency ----------------------------------------------------------------


async def _watch_ticks(url: str, viewers: int, count: int, budget: float, server_pid: int) -> dict[str, Any]:
    sockets = await live.open_viewers(url, viewers)
    server_cpu = live.CpuShare(server_pid)  # over the ticking window: first tick received -> last
    client_cpu = live.CpuShare(os.getpid())
    live_since = time.time_ns()  # every viewer is connected and past its backlog read
    began = time.monotonic()
    latencies: list[float] = []

    def on_tick() -> None:
        server_cpu.start()
        client_cpu.start()

    try:
        received = await asyncio.gather(
            *(live.collect_ticks(ws, count, began + budget, lambda: live_since, latencies, on_tick) for ws in sockets)
        )
        shares = [cpu.stop() if cpu.started else 0.0 for cpu in (server_cpu, client_cpu)]
    finally:
        await live.close_all(sockets)
    return {
        "server_cpu_share": shares[0],
        "client_cpu_share": shares[1],
        "latencies": latencies,
        "received": list(received),
    }


def redis_floor(seconds: float, interval_ms: float = 1.0) -> dict[str, Any]:
    """PUBLISH ``time.time_ns()`` every ``interval_ms`` from a thread; one SUBSCRIBE client measures arrival."""
    channel = "bench:floor:latency"
    count = int(seconds * 1000 / interval_ms)

    def publisher(ready: threading.Event) -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        ready.wait(10)
        due = time.monotonic()
        for _ in range(count):
            client.publish(channel, str(time.time_ns()))
            due += interval_ms / 1000
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        client.publish(channel, "end")
        client.close()

    async def subscriber(ready: threading.Event) -> list[float]:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        pubsub = client.pubsub()
        await pubsub.subscribe(channel)
        ready.set()
        latencies: list[float] = []
        deadline = time.monotonic() + seconds + 30
        try:
            while time.monotonic() < deadline:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                now = time.time_ns()
                if message["data"] == b"end":
                    break
                latencies.append((now - int(message["data"])) / 1e6)
        finally:
            await pubsub.aclose()
            await client.aclose()
        return latencies

    ready = threading.Event()
    thread = threading.Thread(target=publisher, args=(ready,), daemon=True)
    thread.start()
    latencies = asyncio.run(subscriber(ready))
    thread.join(30)
    return live.summary(latencies)


def logs_latency(seconds: float, timeout: float, viewers: int = VIEWERS) -> dict[str, Any]:
    count = int(seconds * 1000)
    floor = redis_floor(min(seconds, 5.0))
    pipeline = pipelines.import_pipeline(live.ticker_yaml(f"bench-ticker-{count}", count, 1.0, delay=3.0))
    key = live.api_key("bench-latency")
    error = ""
    with live.asgi_server("bench-asgi-latency") as server:
        execution, _ = pipelines.start(pipeline)
        watched = asyncio.run(
            _watch_ticks(live.ws_url(server, execution.pk, key), viewers, count, 3.0 + timeout, server.pid)
        )
        try:
            pipelines.wait_finished(execution, timeout)
        except pipelines.RunFailed as exc:
            error = str(exc)
    figures = live.summary(watched["latencies"])
    missing = sum(count - r for r in watched["received"])
    if missing and not error:
        error = f"{missing} ticks not received in time across {viewers} viewers"
    met = figures["p50_ms"] <= LATENCY_P50_MS and figures["p99_ms"] <= LATENCY_P99_MS and not error
    return {
        "viewers": viewers,
        "viewer_mode": live.VIEWER_MODE,
        "lines": count,
        "interval_ms": 1.0,
        "ansflow": figures,
        "floor": floor,
        "ticks_received_min": min(watched["received"]) if watched["received"] else 0,
        "client_cpu_share": watched["client_cpu_share"],
        "server_cpu_share": watched["server_cpu_share"],
        "target": f"p50 <= {LATENCY_P50_MS:g} ms and p99 <= {LATENCY_P99_MS:g} ms",
        "met": bool(met),
        "error": error,
    }


# --- (b) throughput -------------------------------------------------------------


async def _one_viewer(url: str, last_text: str, budget: float) -> dict[str, Any]:
    """Receive until the line ``last_text``; checks the sequence numbers for gaps and duplicates."""
    received = gaps = 0
    previous = 0
    async with connect(url, max_size=None, open_timeout=30, ping_interval=None) as ws:
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            for line in live.log_lines(json.loads(raw)):
                if line["seq"] != previous + 1:
                    gaps += 1
                previous = line["seq"]
                received += 1
                if line.get("stream") == LogStream.STDOUT and line["text"] == last_text:
                    return {"received_at": time.time(), "received": received, "gaps": gaps}
    return {"received_at": None, "received": received, "gaps": gaps}


def floor_insert(execution: Execution, step_pk: int | None, lines: int, number: int) -> float:
    """Seconds to read ``seq 1 lines`` from a pipe and insert the rows in the sink's batch size, one
    ``executemany`` of a plain INSERT per batch in a transaction (the cheapest way Django offers)."""
    floor_run = Execution.objects.create(
        project=execution.project,
        pipeline=execution.pipeline,
        version=execution.version,
        number=number,
        status=execution.status,
        trigger="bench-floor",
    )
    insert = sink_sql().insert_lines  # the sink's own statement: the floor is the same rows without the sink
    began = time.perf_counter()
    process = subprocess.Popen(["seq", "1", str(lines)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, batch)
        batch.clear()

    for seq, raw in enumerate(process.stdout, start=1):
        at = connection.ops.adapt_datetimefield_value(timezone.now())
        text = raw.decode("utf-8", errors="replace").rstrip("\n")
        batch.append((floor_run.pk, step_pk, seq, LogStream.STDOUT, at, text))
        if len(batch) >= FLUSH_LINES:
            flush()
    if batch:
        flush()
    process.wait()
    seconds = time.perf_counter() - began
    floor_run.delete()
    return seconds


def _rounded(value: float, digits: int = 0) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def logs_throughput(lines: int, reps: int, timeout: float) -> dict[str, Any]:
    pipeline = pipelines.import_pipeline(
        pipelines._document(f"bench-seq-{lines}", [f"    - {{id: seq, type: shell, run: 'seq 1 {lines}'}}\n"])
    )
    key = live.api_key("bench-throughput")
    persisted, delivered, floor_rate, gaps = [], [], [], 0
    error = ""
    with live.asgi_server("bench-asgi-throughput") as server:
        for rep in range(reps):
            try:
                execution, started = pipelines.start(pipeline)
                viewer = asyncio.run(_one_viewer(live.ws_url(server, execution.pk, key), str(lines), timeout))
                finished = pipelines.wait_finished(execution, timeout)
            except pipelines.RunFailed as exc:
                error = str(exc)
                break
            assert finished.finished_at is not None
            stored = LogLine.objects.filter(execution=finished, stream=LogStream.STDOUT).count()
            if stored != lines:
                error = f"{stored} of {lines} lines in the database"
            persisted.append(lines / (finished.finished_at - started).total_seconds())
            if viewer["received_at"] is None:
                error = error or f"the viewer got {viewer['received']} lines, not line {lines}, in time"
            else:
                delivered.append(lines / (viewer["received_at"] - started.timestamp()))
            gaps += viewer["gaps"]
            step = finished.steps.first()
            floor_rate.append(lines / floor_insert(finished, step.pk if step else None, lines, 10_000_000 + rep))
    if gaps and not error:
        error = f"{gaps} gaps or duplicates in the viewer's sequence numbers"
    persisted_m, delivered_m, floor_m = (
        statistics.median(v) if v else float("nan") for v in (persisted, delivered, floor_rate)
    )
    return {
        "lines": lines,
        "viewer_mode": live.VIEWER_MODE,
        "repetitions": len(persisted),
        "persisted_lines_per_s": [round(v) for v in persisted],
        "delivered_lines_per_s": [round(v) for v in delivered],
        "floor_lines_per_s": [round(v) for v in floor_rate],
        "persisted_median": _rounded(persisted_m),
        "delivered_median": _rounded(delivered_m),
        "floor_median": _rounded(floor_m),
        "persisted_ratio": _rounded(persisted_m / floor_m, 3),
        "delivered_ratio": _rounded(delivered_m / floor_m, 3),
        "target": f"persisted and delivered >= {THROUGHPUT_SHARE:.0%} of the floor",
        "target_ratio_min": THROUGHPUT_SHARE,
        "met": bool(
            persisted_m >= THROUGHPUT_SHARE * floor_m and delivered_m >= THROUGHPUT_SHARE * floor_m and not error
        ),
        "error": error,
    }
