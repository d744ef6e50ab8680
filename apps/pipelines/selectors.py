"""Reads shared by pages, API and admin."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Pipeline


def pipelines() -> QuerySet[Pipeline]:
    return Pipeline.objects.select_related("project", "current_version")
