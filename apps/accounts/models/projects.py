"""Accounts models: the shared timestamped base and projects (tenancy)."""

from __future__ import annotations

from django.db import models


class TimeStampedModel(models.Model):
    """Abstract base giving every model ``created_at`` and ``updated_at``."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Project(TimeStampedModel):
    """A tenant: pipelines, credentials, clusters and runs all belong to exactly one project."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug
