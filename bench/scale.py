"""Issue 6 §6: pages and the execution list API with a large history.

``manage.py seed_scale`` fills the database (on MariaDB the command's defaults:
100,000 executions, 1,000,000 steps, 5,000,000 log lines; smaller on the embedded
SQLite default, and in ``--quick``), then a signed-in superuser requests each page
through httpx against one uvicorn, round-robin, after warm-up requests. Execution
pages are random seeded runs.
"""

from __future__ import annotations

import io
import random
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.management import call_command

from ansflow.testing import session_cookie
from apps.executions.models import Execution

from . import live, pipelines

PAGE_P95_MS = 200.0
API_P95_MS = 100.0
PROJECT = "scale"
STEPS, LINES = 10, 50  # per execution: seed_scale's defaults


def size(label: str, quick: bool) -> int:
    """Executions to seed: the issue's 100,000 on MariaDB, 20,000 on SQLite, 5,000 in a quick run."""
    if quick:
        return 5_000
    return 100_000 if label == "mariadb" else 20_000


def seed(executions: int) -> dict[str, Any]:
    pipelines.actor()  # seed_scale acts as the first superuser
    began = time.perf_counter()
    call_command("seed_scale", project=PROJECT, executions=executions, steps=STEPS, lines=LINES, stdout=io.StringIO())
    return {
        "executions": executions,
        "steps": executions * STEPS,
        "lines": executions * LINES,
        "seconds": round(time.perf_counter() - began, 1),
    }


def _get(client: httpx.Client, path: str) -> tuple[float, str]:
    began = time.perf_counter()
    try:
        answer = client.get(path)
    except httpx.HTTPError as exc:
        return (time.perf_counter() - began) * 1000, f"{path}: {type(exc).__name__}"
    elapsed = (time.perf_counter() - began) * 1000
    return elapsed, "" if answer.status_code == 200 else f"{path}: HTTP {answer.status_code}"


def measure(executions: int, requests: int) -> dict[str, Any]:
    seeded = seed(executions)
    ids = list(Execution.objects.filter(project__slug=PROJECT).values_list("pk", flat=True))
    rng = random.Random(1)
    targets = {
        "dashboard": (lambda: "/", PAGE_P95_MS),
        "pipeline list": (lambda: "/pipelines/", PAGE_P95_MS),
        "execution page": (lambda: f"/executions/{rng.choice(ids)}/", PAGE_P95_MS),
        "execution list API": (lambda: "/api/v1/executions/", API_P95_MS),
    }
    timings: dict[str, list[float]] = {name: [] for name in targets}
    errors: dict[str, str] = {}
    cookies = {settings.SESSION_COOKIE_NAME: session_cookie(pipelines.actor())}
    with (
        live.asgi_server("bench-asgi-scale") as server,
        httpx.Client(base_url=server.url, cookies=cookies, timeout=60.0) as client,
    ):
        for rep in range(3 + requests):  # the first three rounds warm the process's caches and connections
            for name, (path, _) in targets.items():
                elapsed, error = _get(client, path())
                if error:
                    errors.setdefault(name, error)
                elif rep >= 3:
                    timings[name].append(elapsed)
    pages = {}
    for name, (path, target) in targets.items():
        p95 = live.percentile(timings[name], 95)
        pages[name] = {
            "path": path() if name != "execution page" else "/executions/<random id>/",
            "requests": len(timings[name]),
            "p50_ms": round(live.percentile(timings[name], 50), 1),
            "p95_ms": round(p95, 1),
            "target_ms": target,
            "met": bool(p95 <= target) and name not in errors,
            "error": errors.get(name, ""),
        }
    return {
        "seeded": seeded,
        "pages": pages,
        "target": f"pages p95 <= {PAGE_P95_MS:g} ms, API p95 <= {API_P95_MS:g} ms",
        "met": all(page["met"] for page in pages.values()),
        "error": "; ".join(errors.values()),
    }
