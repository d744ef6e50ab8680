"""Triggers API: what starts each pipeline, its last firing, and every firing; maintainers add schedules,
webhooks and upstream-pipeline triggers, change and remove them, and switch any trigger on or off.

A webhook's secret is write-only: answers say only whether one is set (``has_secret``) and where the
sender posts (``webhook_url``). Triggers declared in the YAML change there; here they are switched.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.serializers import CapabilitiesMixin
from apps.accounts.api.views import ServiceAnswersMixin, ServiceErrorsMixin, require
from apps.accounts.filters import IdFilter
from apps.accounts.permissions import ProjectPermission, has_perm, restrict

from ..selectors import pipelines
from ..triggers.config import API_KINDS, SECRET_LENGTH
from ..triggers.models import EventOutcome, Trigger, TriggerEvent, TriggerKind, TriggerOrigin
from ..triggers.selectors import trigger_events, trigger_list
from ..triggers.services import TriggerConflict, trigger_create, trigger_delete, trigger_set_enabled, trigger_update

CONFIG_HELP = (
    "What one spec.on entry of the kind declares: {cron, timezone, inputs} for a schedule; {provider, events, "
    "branches, tags, paths, inputs} for a webhook; {pipeline, status, inputs} for an upstream pipeline."
)


class TriggerSerializer(CapabilitiesMixin, serializers.ModelSerializer[Trigger]):
    project = serializers.CharField(source="pipeline.project.slug", read_only=True)
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True)
    active = serializers.BooleanField(read_only=True, help_text="Declared (or added), on in the spec and not off.")
    has_secret = serializers.SerializerMethodField(help_text="Whether a webhook secret is set (never shown).")
    webhook_url = serializers.SerializerMethodField(help_text="Where a webhook's sender posts; null otherwise.")
    last_outcome = serializers.ChoiceField(
        choices=EventOutcome.choices, allow_blank=True, read_only=True, help_text="Empty until it first fires."
    )

    class Meta:
        model = Trigger
        fields = [
            "id", "pipeline", "pipeline_name", "project", "kind", "key", "origin", "declared", "enabled", "active",
            "config", "has_secret", "webhook_url", "last_fired_at", "last_outcome", "last_reason",
            "last_execution_id", "created_at", "updated_at", "user_capabilities",
        ]  # fmt: skip
        read_only_fields = fields

    def get_has_secret(self, obj: Trigger) -> bool:
        return bool(obj.secret_ciphertext)

    def get_webhook_url(self, obj: Trigger) -> str | None:
        if obj.kind != TriggerKind.WEBHOOK:
            return None
        path = reverse("webhook", args=[obj.public_id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


def _secret_field(help_text: str) -> serializers.CharField:
    return serializers.CharField(write_only=True, required=False, trim_whitespace=False, max_length=SECRET_LENGTH[1],
                                 help_text=help_text)  # fmt: skip


class TriggerCreateSerializer(serializers.Serializer[Any]):
    pipeline = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The pipeline's id.")
    kind = serializers.ChoiceField(choices=[str(kind) for kind in API_KINDS])
    name = serializers.CharField(max_length=40, help_text="Unique per pipeline and kind; the key is kind:name.")
    config = serializers.DictField(help_text=CONFIG_HELP)
    enabled = serializers.BooleanField(default=True)
    secret = _secret_field("Webhooks: the shared secret the sender signs with (required; write-only).")


class TriggerUpdateSerializer(serializers.Serializer[Any]):
    config = serializers.DictField(required=False, help_text=CONFIG_HELP + " Only for triggers added here.")
    enabled = serializers.BooleanField(required=False)
    secret = _secret_field("Webhooks: a new shared secret (write-only).")


class TriggerEventSerializer(serializers.ModelSerializer[TriggerEvent]):
    class Meta:
        model = TriggerEvent
        fields = ["id", "outcome", "reason", "execution_id", "delivery_id", "info", "created_at"]
        read_only_fields = fields


class TriggerFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="pipeline__project__slug")
    pipeline = IdFilter(field_name="pipeline_id")
    kind = filters.ChoiceFilter(choices=TriggerKind.choices)
    origin = filters.ChoiceFilter(choices=TriggerOrigin.choices)
    last_outcome = filters.ChoiceFilter(choices=EventOutcome.choices)
    enabled = filters.BooleanFilter()

    class Meta:
        model = Trigger
        fields = ["project", "pipeline", "kind", "origin", "last_outcome", "enabled"]


@extend_schema_view(partial_update=extend_schema(request=TriggerUpdateSerializer, responses={200: TriggerSerializer}))
class TriggerViewSet(ServiceAnswersMixin, ServiceErrorsMixin, viewsets.ModelViewSet[Trigger]):
    """Triggers of the pipelines the caller can see. PUT and PATCH change only the fields given."""

    serializer_class = TriggerSerializer
    permission_classes = [ProjectPermission]
    permission_action_map = {"enable": "change", "disable": "change", "events": "view"}
    filterset_class = TriggerFilter
    ordering_fields = ["id", "kind", "key", "last_fired_at", "created_at"]
    search_fields = ["key", "pipeline__name"]

    def get_queryset(self) -> QuerySet[Trigger]:
        return restrict(trigger_list(), self.request.user, "view")

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, TriggerConflict):
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)

    @extend_schema(request=TriggerCreateSerializer, responses={201: TriggerSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.valid(TriggerCreateSerializer, request.data)
        pipeline = restrict(pipelines(), request.user, "view").filter(pk=data["pipeline"]).first()
        if pipeline is None:
            raise exceptions.ValidationError({"pipeline": [f"No pipeline {data['pipeline']}."]})
        require(has_perm(request.user, "add", Trigger(pipeline=pipeline)), "Adding triggers needs the maintainer role.")
        trigger = trigger_create(
            actor=request.user, pipeline=pipeline, kind=data["kind"], name=data["name"], config=data["config"],
            enabled=data["enabled"], secret=data.get("secret", ""), request=request,
        )  # fmt: skip
        return self.answer(trigger, status.HTTP_201_CREATED)

    @extend_schema(request=TriggerUpdateSerializer, responses={200: TriggerSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        trigger = self.get_object()
        data = self.valid(TriggerUpdateSerializer, request.data, partial=True)
        return self.answer(trigger_update(actor=request.user, trigger=trigger, request=request, **data))

    def perform_destroy(self, instance: Trigger) -> None:
        trigger_delete(actor=self.request.user, trigger=instance, request=self.request)

    def _switch(self, request: Request, enabled: bool) -> Response:
        trigger = trigger_set_enabled(actor=request.user, trigger=self.get_object(), enabled=enabled, request=request)
        return self.answer(trigger)

    @extend_schema(request=None, responses={200: TriggerSerializer})
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        """Switch the trigger on (a schedule resumes)."""
        return self._switch(request, True)

    @extend_schema(request=None, responses={200: TriggerSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        """Switch the trigger off: it starts nothing until switched on again."""
        return self._switch(request, False)

    @extend_schema(responses={200: TriggerEventSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str | None = None) -> Response:
        """Every firing, newest first: started (with the execution), skipped or failed, and why."""
        page: Any = self.paginate_queryset(trigger_events(self.get_object()))  # type: ignore[arg-type]
        return self.get_paginated_response(TriggerEventSerializer(page, many=True).data)
