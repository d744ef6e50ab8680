"""Issue 9 §5: 200 concurrent API clients for 60 s while 20 pipelines run.

Each client (its own ``httpx.AsyncClient``, so its own connection; token auth) loops
until the window closes: the execution list (45 %), one execution's detail (45 %),
or starting a one-step run (10 %). The 20 background runs are chains of ``sleep``
steps long enough to last the window. Every non-2xx answer and every transport
error counts as an error; in-flight requests finish (bounded by a timeout) after the
window closes. Whatever is still running afterwards is canceled.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import httpx

from apps.executions.choices import ExecutionStatus
from apps.executions.models import Execution
from apps.executions.services import execution_cancel

from . import live, pipelines

REQUEST_TIMEOUT = 30.0


def _sleep_chain(name: str, length: int) -> str:
    steps = [
        f"    - {{id: s{i:03d}, type: shell, run: 'sleep 0.2'{f', needs: [s{i - 1:03d}]' if i else ''}}}\n"
        for i in range(length)
    ]
    return pipelines._document(name, steps)


async def _client(
    base: str,
    key: str,
    run_pipeline: int,
    ids: list[int],
    deadline: float,
    seed: int,
    into: list[tuple[str, float, str]],
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Token {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT) as client:
        while time.monotonic() < deadline:
            pick = rng.random()
            if pick < 0.45:
                name, call = "list", client.get("/api/v1/executions/")
            elif pick < 0.9:
                name, call = "detail", client.get(f"/api/v1/executions/{rng.choice(ids)}/")
            else:
                name, call = "run", client.post(f"/api/v1/pipelines/{run_pipeline}/run/", json={"inputs": {}})
            began = time.perf_counter()
            try:
                answer = await call
                error = "" if answer.is_success else f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
                answer = None
            into.append((name, (time.perf_counter() - began) * 1000, error))
            if name == "run" and answer is not None and answer.status_code == 201:
                ids.append(int(answer.json()["id"]))


async def _drive(base: str, key: str, run_pipeline: int, ids: list[int], clients: int, seconds: float):  # type: ignore[no-untyped-def]
    samples: list[tuple[str, float, str]] = []
    deadline = time.monotonic() + seconds
    tasks = [_client(base, key, run_pipeline, ids, deadline, n, samples) for n in range(clients)]
    await asyncio.wait_for(asyncio.gather(*tasks), seconds + REQUEST_TIMEOUT + 10)
    return samples


def _server_errors(log: str) -> dict[str, int]:
    """The exceptions behind the server's error answers, from its log, counted by message."""
    found: dict[str, int] = {}
    for match in re.finditer(r"^([\w.]+(?:Error|Exception)): (.{0,120})$", log, re.MULTILINE):
        if match.group(1).startswith("django."):  # the same error re-raised by Django's wrapper
            continue
        key = f"{match.group(1)}: {match.group(2)}"
        found[key] = found.get(key, 0) + 1
    return found


def measure(clients: int, seconds: float, running: int) -> dict[str, Any]:
    background = pipelines.import_pipeline(_sleep_chain(f"bench-load-bg-{int(seconds)}", max(5, int(seconds / 2) + 5)))
    tiny = pipelines.import_pipeline(
        pipelines._document("bench-load-run", ["    - {id: one, type: shell, run: 'true'}\n"])
    )
    key = live.api_key("bench-load")
    first_pk = (Execution.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    started = [pipelines.start(background)[0] for _ in range(running)]
    background_ids = [execution.pk for execution in started]
    ids = list(background_ids)  # the clients add the runs they start
    with live.asgi_server("bench-asgi-load") as server:
        cpu = live.CpuShare(server.pid)
        cpu.start()
        began = time.monotonic()
        samples = asyncio.run(_drive(server.url, key, tiny.pk, ids, clients, seconds))
        elapsed = time.monotonic() - began
        server_cpu = cpu.stop()
    causes = _server_errors(server.output())
    still_running = (
        Execution.objects.filter(pk__in=background_ids).exclude(status__in=ExecutionStatus.terminal()).count()
    )
    ours = Execution.objects.filter(pk__gte=first_pk, pipeline=tiny)
    runs_started, runs_finished = ours.count(), ours.filter(status=ExecutionStatus.SUCCESS).count()
    for execution in Execution.objects.filter(pk__gte=first_pk).exclude(status__in=ExecutionStatus.terminal()):
        execution_cancel(actor=pipelines.actor(), execution=execution)
    errors = [s for s in samples if s[2]]
    latencies = [s[1] for s in samples]
    endpoints = {}
    for name in ("list", "detail", "run"):
        mine = [s[1] for s in samples if s[0] == name]
        endpoints[name] = {
            "requests": len(mine),
            "errors": sum(1 for s in samples if s[0] == name and s[2]),
            "p50_ms": round(live.percentile(mine, 50), 1),
            "p95_ms": round(live.percentile(mine, 95), 1),
        }
    kinds: dict[str, int] = {}
    for sample in errors:
        kinds[sample[2]] = kinds.get(sample[2], 0) + 1
    return {
        "clients": clients,
        "seconds": seconds,
        "background_runs": running,
        "background_still_running_at_end": still_running,
        "server_cpu_share": server_cpu,
        "requests": len(samples),
        "errors": len(errors),
        "error_kinds": kinds,
        "error_rate": round(len(errors) / len(samples), 5) if samples else 1.0,
        "requests_per_s": round(len(samples) / elapsed, 1),
        "p50_ms": round(live.percentile(latencies, 50), 1),
        "p95_ms": round(live.percentile(latencies, 95), 1),
        "endpoints": endpoints,
        "runs_started": runs_started,
        "runs_finished": runs_finished,
        "server_errors": causes,
        "target": "error rate 0; p95 reported",
        "met": not errors and bool(samples),
        "error": ", ".join(f"{count} x {kind}" for kind, count in kinds.items()),
    }
