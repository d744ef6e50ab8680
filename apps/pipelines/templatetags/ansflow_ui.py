"""Template filters of the server-rendered pages: durations and run times."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def duration(seconds: float | int | None) -> str:
    """``75.2`` → ``1m 15s``; ``None`` → ``—``."""
    if seconds is None:
        return "—"
    total = max(float(seconds), 0.0)
    if total < 10:
        return f"{total:.1f}s"
    whole = round(total)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def run_time(obj: Any) -> str:
    """How long a run or step took, or has been running so far."""
    started, finished = getattr(obj, "started_at", None), getattr(obj, "finished_at", None)
    if started is None:
        return "—"
    return duration(((finished or timezone.now()) - started).total_seconds())


@register.filter
def play_recap(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """An ansible step's ``recap`` output (JSON: host -> counts) as rows for a table."""
    try:
        recap = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    if not isinstance(recap, dict):
        return []
    return sorted((str(host), counts) for host, counts in recap.items() if isinstance(counts, dict))
