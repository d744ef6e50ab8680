"""Reads shared by pages, API and admin."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Pipeline, PipelineVersion


def pipelines() -> QuerySet[Pipeline]:
    return Pipeline.objects.select_related("project", "current_version")


def pipeline_list() -> QuerySet[Pipeline]:
    """Pipelines for lists: the project joined, the current version's number only (not its text)."""
    return (
        Pipeline.objects.select_related("project", "current_version")
        .defer("current_version__yaml_text", "current_version__spec")
        .order_by("project__slug", "name")
    )


def pipeline_versions(pipeline: Pipeline) -> QuerySet[PipelineVersion]:
    """A pipeline's versions, newest first, with their authors."""
    return pipeline.versions.select_related("author").order_by("-number")
