"""Template filters of the cluster pages."""

from __future__ import annotations

from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime

register = template.Library()

UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@register.filter
def age(value: object) -> str:
    """A Kubernetes timestamp (RFC 3339) as kubectl's AGE column says it: ``42s``, ``7m``, ``5h``, ``3d``.

    Empty for a missing or unreadable timestamp; a clock a little ahead of this one reads ``0s``.
    """
    try:
        when = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        return ""
    if timezone.is_naive(when):
        when = timezone.make_aware(when, UTC)
    seconds = max(int((timezone.now() - when).total_seconds()), 0)
    for unit, size in UNITS:
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "0s"
