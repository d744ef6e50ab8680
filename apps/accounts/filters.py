"""FilterSets shared by the API and the pages."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from .models import AuditEvent


class IdFilter(django_filters.NumberFilter):
    """A database id: a whole number in the range a BIGINT holds (anything else is a clear 400)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, min_value=1, max_value=2**63 - 1, **kwargs)


class AuditEventFilter(django_filters.FilterSet):
    """Audit events by actor (username or user id), verb (exact, or a prefix ending in "."), target type
    ("app_label.model"), project slug and time range ([since, until))."""

    actor = django_filters.CharFilter(method="filter_actor")
    verb = django_filters.CharFilter(method="filter_verb")
    target_type = django_filters.CharFilter(method="filter_target_type")
    project = django_filters.CharFilter(field_name="project_slug")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_actor(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        if value.isdigit():
            return queryset.filter(actor_user_id=int(value))
        return queryset.filter(actor_user__username=value)

    def filter_verb(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(verb__startswith=value) if value.endswith(".") else queryset.filter(verb=value)

    def filter_target_type(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        app_label, _, model = value.lower().partition(".")
        return queryset.filter(target_type__app_label=app_label, target_type__model=model)
