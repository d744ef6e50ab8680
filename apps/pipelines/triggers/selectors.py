"""Reads of triggers and their firings, shared by the API, the pages and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Trigger, TriggerEvent


def trigger_list() -> QuerySet[Trigger]:
    """Triggers with their pipeline and project joined, pipeline by pipeline."""
    return Trigger.objects.select_related("pipeline__project").order_by("pipeline__name", "pipeline_id", "kind", "key")


def trigger_events(trigger: Trigger) -> QuerySet[TriggerEvent]:
    """A trigger's firings, newest first."""
    return TriggerEvent.objects.filter(trigger=trigger).order_by("-id")
