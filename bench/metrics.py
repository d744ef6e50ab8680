"""``/metrics`` with a long history: what a Prometheus scrape costs once 300,000 step attempts are recorded.

The attempts belong to the steps of one run (``number`` 1..n per step, durations spread from
milliseconds to an hour), all finished before the histogram's settling time except the newest. A scrape
is ``render()``, in-process: the database work of the answer, without HTTP. The first scrape of a web
process counts every attempt; each later one follows 100 new attempts (about what a busy worker adds
between two scrapes 15 s apart). Baseline, same run: the whole history recounted by the ORM aggregate a
scrape used before, with Django's duration arithmetic.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from apps.executions.models import Execution, StepAttempt
from apps.executions.observability import durations
from apps.executions.observability.metrics import render

from . import pipelines

KINDS_YAML = """
- {id: gate, type: approval, with: {approvers: {roles: [maintainer]}, min_approvals: 1}}
- {id: build, type: shell, needs: [gate], run: 'true'}
- {id: test, type: python, needs: [gate], run: 'pass'}
- {id: call, type: http, needs: [gate], with: {url: 'http://127.0.0.1:9/'}}
"""
BATCH = 5000
NEW_PER_SCRAPE = 100


def _execution() -> Execution:
    document = pipelines._document("metrics-history", [f"    {line}\n" for line in KINDS_YAML.strip().splitlines()])
    execution, _ = pipelines.start(pipelines.import_pipeline(document))
    return execution


def _add(steps: list[Any], first: int, count: int, rng: random.Random, finished: Any) -> None:
    rows = []
    for index in range(first, first + count):
        step = steps[index % len(steps)]
        end = finished(index)
        seconds = min(rng.lognormvariate(0.5, 2.0), 3600.0)
        start = end - timedelta(seconds=seconds)
        number = index // len(steps) + 1
        rows.append(
            StepAttempt(step=step, number=number, status="success", worker="bench:1", started_at=start, finished_at=end)
        )
        if len(rows) == BATCH:
            StepAttempt.objects.bulk_create(rows)
            rows = []
    StepAttempt.objects.bulk_create(rows)


def recount() -> list[dict[str, Any]]:
    """The baseline: every attempt, every scrape, with Django's duration arithmetic."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    bounds = {f"le_{i}": Count("pk", filter=Q(d__lte=timedelta(seconds=b))) for i, b in enumerate(durations.BUCKETS)}
    return list(
        StepAttempt.objects.filter(started_at__isnull=False, finished_at__isnull=False)
        .order_by()
        .annotate(d=duration)
        .values("step__kind")
        .annotate(n=Count("pk"), total=Sum("d"), **bounds)
    )


def _ms(action: Any) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def measure(attempts: int, scrapes: int) -> dict[str, Any]:
    execution = _execution()
    steps = list(execution.steps.exclude(step_id="gate").order_by("step_id"))
    rng = random.Random(1)
    now = timezone.now()
    began = time.perf_counter()
    _add(steps, 0, attempts, rng, lambda index: now - timedelta(hours=2) + timedelta(seconds=index * 0.02))
    seeded_s = time.perf_counter() - began
    durations.histogram = durations.Histogram()  # a web process that has not counted yet
    first_ms = _ms(render)
    next_ms, baseline_ms = [], []
    added = attempts
    for _ in range(scrapes):
        _add(steps, added, NEW_PER_SCRAPE, rng, lambda index: timezone.now())
        added += NEW_PER_SCRAPE
        next_ms.append(_ms(render))
        baseline_ms.append(_ms(recount))
    counted = durations.histogram.read()
    total = sum(counts.count for counts in counted.values())
    return {
        "attempts": attempts,
        "seeded_seconds": round(seeded_s, 1),
        "scrapes": scrapes,
        "new_per_scrape": NEW_PER_SCRAPE,
        "first_scrape_ms": round(first_ms, 1),
        "next_scrape_ms": [round(v, 1) for v in next_ms],
        "next_scrape_median_ms": round(statistics.median(next_ms), 1),
        "baseline_recount_ms": [round(v, 1) for v in baseline_ms],
        "baseline_recount_median_ms": round(statistics.median(baseline_ms), 1),
        "ratio": round(statistics.median(next_ms) / statistics.median(baseline_ms), 5),
        "counted_attempts": total,
        "target": "reported (no target): a scrape's cost beside recounting the history",
        "met": total == added,
        "error": "" if total == added else f"the histogram counted {total} attempts of {added}",
    }
